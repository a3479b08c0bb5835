// The built app goes into the Python package (src/caseflow/web/static), served under /app/.
import preact from "@preact/preset-vite";
import { defineConfig } from "vite";

export default defineConfig({
  base: "/app/",
  plugins: [preact()],
  build: {
    outDir: "../src/caseflow/web/static",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1200,
    sourcemap: false,
  },
  server: {
    proxy: { "/api": "http://127.0.0.1:8080" },
  },
});
