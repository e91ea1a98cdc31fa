// The history panel: earlier compositions, newest first, to play again or delete; it
// refreshes itself while one of them is queued or running.
import { forgetComposition, markCurrent, showComposition } from "./result.js";
import { $, api, describe, el, formatWhen, showError, state } from "./shared.js";

const HISTORY_POLL_MS = 2500;

export async function refreshHistory() {
  let data;
  try {
    data = await api("/api/compositions?limit=50");
  } catch {
    return;
  }
  const list = $("history");
  list.replaceChildren();
  const unreadable = data.unreadable || [];
  $("history-empty").hidden = data.compositions.length + unreadable.length > 0;
  let busy = false;
  for (const job of data.compositions) {
    busy ||= job.status === "queued" || job.status === "running";
    const what = el("div", { class: "what" },
      el("span", { text: describe(job) }),
      el("span", { class: "when", text: formatWhen(job.created) }));
    if (job.status === "failed" && job.error) {
      what.append(el("span", { class: "item-error", text: job.error }));
    }
    const item = el("li", { "data-id": job.id }, what,
      el("span", { class: `badge ${job.status}`, text: job.status }));
    if (job.status === "done") {
      const button = el("button", { type: "button", text: job.urls.wav ? "Play" : "Show" });
      button.setAttribute("aria-label", `${job.urls.wav ? "Play" : "Show"}: ${describe(job)}`);
      button.addEventListener("click", () => showComposition(job, true));
      item.append(button);
    }
    if (["done", "failed", "cancelled"].includes(job.status)) {
      const remove = el("button", { type: "button", class: "delete", text: "Delete" });
      remove.setAttribute("aria-label", `Delete: ${describe(job)}`);
      remove.addEventListener("click", () => deleteComposition(job));
      item.append(remove);
    }
    list.append(item);
  }
  for (const folder of unreadable) list.append(unreadableItem(folder));
  markCurrent();
  clearTimeout(state.historyTimer);
  if (busy) state.historyTimer = setTimeout(refreshHistory, HISTORY_POLL_MS);
}

// A composition folder whose record the server could not read: its files are kept until
// someone deletes it here.
function unreadableItem(folder) {
  const what = el("div", { class: "what" },
    el("span", { text: `Composition ${folder.id.slice(0, 8)}: its record is unreadable ` +
      `(${folder.reason}).` }),
    el("span", { class: "item-error",
      text: `Kept in the server's data folder: ${folder.files.join(", ")}.` }));
  const item = el("li", { "data-id": folder.id }, what,
    el("span", { class: "badge unreadable", text: "unreadable" }));
  const remove = el("button", { type: "button", class: "delete", text: "Delete" });
  remove.setAttribute("aria-label", `Delete the unreadable composition ${folder.id}`);
  remove.addEventListener("click", () => deleteComposition(folder));
  item.append(remove);
  return item;
}

async function deleteComposition(job) {
  try {
    await api(`/api/compositions/${job.id}`, { method: "DELETE" });
  } catch (error) {
    showError(`Could not delete: ${error.message}`);
    return;
  }
  forgetComposition(job.id);
  refreshHistory();
}
