// A Camunda external-task worker written the way Camunda's docs show it, run unchanged
// against caseflow's /engine-rest by tests/api/camunda/test_clients.py.
//
// Environment: BASE_URL (.../engine-rest), WORKER_USER and API_KEY (HTTP Basic: the user
// the key acts as, the key as password), TOPIC, EXPECTED (tasks to finish before exiting).
// Applicant "flaky" fails once (retries 2, no wait) and then succeeds; "missing" raises
// the BPMN error NOT_FOUND; anyone else is verified. Prints one JSON line when done.
import {
  BasicAuthInterceptor,
  Client,
  Variables,
} from "camunda-external-task-client-js";

const { BASE_URL, WORKER_USER, API_KEY, TOPIC, EXPECTED } = process.env;
const expected = Number(EXPECTED || "1");
const attempts = new Map();
const finished = [];

const fail = (what) => (...args) => {
  const error = args.find((a) => a instanceof Error) || args[args.length - 1];
  console.error(`${what}: ${error && error.message ? error.message : String(error)}`);
  process.exit(1);
};

const client = new Client({
  baseUrl: BASE_URL,
  workerId: "js-worker",
  maxTasks: 5,
  lockDuration: 20000,
  asyncResponseTimeout: 2000,
  interval: 50,
  autoPoll: false,
  interceptors: new BasicAuthInterceptor({ username: WORKER_USER, password: API_KEY }),
});
for (const event of ["poll:error", "handler:error", "complete:error",
  "handleFailure:error", "handleBpmnError:error", "extendLock:error"]) {
  client.on(event, fail(event));
}

client.subscribe(TOPIC, async ({ task, taskService }) => {
  const applicant = task.variables.get("applicant");
  const attempt = (attempts.get(task.id) || 0) + 1;
  attempts.set(task.id, attempt);
  await taskService.extendLock(task, 30000);
  if (applicant === "flaky" && attempt === 1) {
    await taskService.handleFailure(task, {
      errorMessage: "registry timeout",
      errorDetails: "the registry did not answer in 5 s",
      retries: 2,
      retryTimeout: 0,
    });
    return;
  }
  if (applicant === "missing") {
    const reason = new Variables().set("reason", "not in the registry");
    await taskService.handleBpmnError(task, "NOT_FOUND", "no such person", reason);
  } else {
    const result = new Variables()
      .set("verified", true)
      .set("score", 42)
      .set("checkedAt", new Date(Date.UTC(2026, 0, 31, 9, 30, 0)))
      .set("details", { source: "js", checks: ["name", "id"] });
    await taskService.complete(task, result);
  }
  finished.push({ id: task.id, applicant, attempts: attempt });
  if (finished.length >= expected) {
    client.stop();
    console.log(JSON.stringify({ finished }));
  }
});

setTimeout(() => {
  console.error(`gave up: ${finished.length} of ${expected} tasks finished`);
  process.exit(2);
}, 90000).unref();

client.start();
