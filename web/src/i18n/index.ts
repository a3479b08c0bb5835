// UI text in Vietnamese and English; the choice is remembered in the browser.
import { en } from "./en";
import { vi } from "./vi";

export type Lang = "vi" | "en";
export type Messages = Record<keyof typeof en, string>;

const dictionaries: Record<Lang, Messages> = { en, vi };
const LANG_KEY = "caseflow.lang";
const listeners = new Set<() => void>();

function initialLang(): Lang {
  const saved = localStorage.getItem(LANG_KEY);
  if (saved === "vi" || saved === "en") return saved;
  return navigator.language?.toLowerCase().startsWith("en") ? "en" : "vi";
}

let current: Lang = initialLang();
document.documentElement.lang = current;

export function lang(): Lang {
  return current;
}

export function setLang(next: Lang): void {
  current = next;
  localStorage.setItem(LANG_KEY, next);
  document.documentElement.lang = next;
  listeners.forEach((listener) => listener());
}

export function onLangChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => void listeners.delete(listener);
}

export type MessageKey = keyof typeof en;

/** The text for `key` in the current language, with {name} placeholders filled in. */
export function t(key: MessageKey, vars: Record<string, string | number> = {}): string {
  const text = dictionaries[current][key] ?? en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name: string) => String(vars[name] ?? `{${name}}`));
}

export function locale(): string {
  return current === "vi" ? "vi-VN" : "en-GB";
}

export function formatDateTime(value: string | null | undefined): string {
  if (!value) return "—";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  return date.toLocaleString(locale(), { dateStyle: "short", timeStyle: "short" });
}

export function formatNumber(value: number | null | undefined, digits = 1): string {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  return value.toLocaleString(locale(), { maximumFractionDigits: digits });
}
