// What every panel of the page uses: the page's state, element helpers, the status and error
// lines, and api(), the one way the page talks to its server.

// The page's state, shared by the panels.
export const state = {
  models: [],
  upload: null, // the uploaded file: {id, name, notes, bars, key, ...}
  current: null, // id of the composition shown in the result panel
  polling: null, // id being polled after Compose
  historyTimer: null,
  notes: null, // /notes of the shown composition
};

export const $ = (id) => document.getElementById(id);

// A server that others can reach may require a token (cadenza serve --token): the page is
// opened as /?token=..., and sends it with every call, in a header, or in the URL of what the
// browser loads by itself (audio, score, downloads).
const TOKEN = new URLSearchParams(window.location.search).get("token");

export function withToken(url) {
  if (!TOKEN || !url) return url;
  return `${url}${url.includes("?") ? "&" : "?"}token=${encodeURIComponent(TOKEN)}`;
}

export async function api(path, options = {}) {
  const headers = { Accept: "application/json" };
  if (TOKEN) headers["X-Cadenza-Token"] = TOKEN;
  if (typeof options.body === "string") headers["Content-Type"] = "application/json";
  const response = await fetch(path, { headers, ...options });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const message = body && body.detail ? body.detail : `${response.status} ${response.statusText}`;
    const error = new Error(message);
    error.status = response.status;
    error.field = body ? body.field : undefined;
    throw error;
  }
  return body;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

export function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

export function formatWhen(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return date.toLocaleString(undefined, {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
}

export function describe(job) {
  let who = job.composer ? `primer by ${job.composer}` : "any primer";
  if (job.mode && job.mode !== "compose") who = `${job.mode} ${job.upload || "an upload"}`;
  return `${job.model} · ${who} · ${job.bars} bar${job.bars === 1 ? "" : "s"} · ` +
    `temperature ${job.temperature} · seed ${job.seed}`;
}

export function setStatus(text) {
  $("status").textContent = text;
}

export function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}
