// @ts-check
// wirewatch story desk: the one script of the pages (no framework, no build step; type-checked with tsc --noEmit).
// - the live river: follows GET /v1/stream, re-reads the server-rendered cards and holds new ones behind
//   a "n new stories" bar, so the reader's scroll position never moves by itself;
// - every change (feeds, subscriptions) is a call to /v1 with the reader's key, and the page shows the answer;
// - relative times kept current, keyboard navigation, the colour theme.

const KEY_COOKIE = "wirewatch_key";
const THEME_KEY = "wirewatch-theme";

/** @param {string} id */
function byId(id) {
  return document.getElementById(id);
}

/** The API key this browser session holds (set at /login), or "" when the API asks for none. */
function apiKey() {
  const found = document.cookie.split("; ").find((c) => c.startsWith(KEY_COOKIE + "="));
  return found ? decodeURIComponent(found.slice(KEY_COOKIE.length + 1)) : "";
}

/** @param {Record<string, string>} [extra] */
function headers(extra) {
  /** @type {Record<string, string>} */
  const out = { ...extra };
  const key = apiKey();
  if (key) out["X-API-Key"] = key;
  return out;
}

/**
 * Calls the API and returns its status and parsed answer (JSON, else text).
 * @param {string} method
 * @param {string} path
 * @param {BodyInit | object | null} [body]
 * @param {string} [contentType]
 * @returns {Promise<{ok: boolean, status: number, data: any}>}
 */
async function api(method, path, body, contentType) {
  /** @type {RequestInit} */
  const init = { method, headers: headers() };
  if (body !== undefined && body !== null) {
    const json = contentType === undefined;
    init.headers = headers({ "Content-Type": json ? "application/json" : contentType });
    init.body = json ? JSON.stringify(body) : /** @type {BodyInit} */ (body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let data = text;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text
  }
  return { ok: response.ok, status: response.status, data };
}

/** A readable reason from an API error answer (FastAPI's `detail`, a string or a list of {loc, msg}). @param {any} data @param {number} status */
function reason(data, status) {
  const detail = data && typeof data === "object" ? data.detail : data;
  if (Array.isArray(detail)) {
    return detail.map((d) => `${(d.loc || []).filter((/** @type {any} */ l) => l !== "body").join(".")}: ${d.msg}`).join("; ");
  }
  return detail ? String(detail) : `HTTP ${status}`;
}

/** @param {string} message */
function toast(message) {
  const box = byId("toast");
  if (!box) return;
  box.textContent = message;
  box.hidden = false;
  window.setTimeout(() => { box.hidden = true; }, 5000);
}

// ---- relative times ------------------------------------------------------------------------------

/** The same wording as services/api/pages/format.py relative_time. @param {Date} at @param {number} now */
function relative(at, now) {
  const seconds = (now - at.getTime()) / 1000;
  const ahead = seconds < -30;
  const span = Math.abs(seconds);
  let text;
  if (span < 45) return "just now";
  if (span < 3600) text = `${Math.round(span / 60)} min`;
  else if (span < 86400) text = `${Math.round(span / 3600)} h`;
  else if (span < 2 * 86400 && !ahead) return "yesterday";
  else if (span < 30 * 86400) { const d = Math.round(span / 86400); text = d === 1 ? "1 day" : `${d} days`; }
  else return at.toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" });
  return ahead ? `in ${text}` : `${text} ago`;
}

/** Rewrites every `<time data-rel>` under `root` for the current time; tooltips in the reader's time zone. @param {ParentNode} root */
function refreshTimes(root) {
  const now = Date.now();
  root.querySelectorAll("time[data-rel]").forEach((el) => {
    const t = /** @type {HTMLTimeElement} */ (el);
    const at = new Date(t.dateTime);
    if (Number.isNaN(at.getTime())) return;
    t.textContent = (t.dataset.rel || "") + relative(at, now);
    t.title = at.toLocaleString();
  });
}

// ---- theme -------------------------------------------------------------------------------------

function setupTheme() {
  const button = byId("theme-toggle");
  if (!button) return;
  const order = ["auto", "light", "dark"];
  const show = () => {
    const theme = document.documentElement.dataset.theme || "auto";
    button.setAttribute("aria-label", `Colour theme: ${theme === "auto" ? "automatic" : theme}. Change`);
    button.title = `Theme: ${theme}`;
  };
  show();
  button.addEventListener("click", () => {
    const current = document.documentElement.dataset.theme || "auto";
    const next = order[(order.indexOf(current) + 1) % order.length];
    document.documentElement.dataset.theme = next;
    try { localStorage.setItem(THEME_KEY, next); } catch { /* storage off: this page only */ }
    show();
  });
}

// ---- the live stream ---------------------------------------------------------------------------

/**
 * Follows GET /v1/stream (Server-Sent Events read through fetch, so the API key goes in a header, which
 * EventSource cannot send). Reconnects with Last-Event-ID after a drop, backing off up to 30 s.
 * @param {(event: {type: string, data: any}) => void} onEvent
 * @param {(state: "on" | "retry" | "off") => void} onState
 */
async function followStream(onEvent, onState) {
  let lastId = "";
  let wait = 1000;
  for (;;) {
    try {
      const response = await fetch("/v1/stream", {
        headers: headers(lastId ? { Accept: "text/event-stream", "Last-Event-ID": lastId } : { Accept: "text/event-stream" }),
        cache: "no-store",
      });
      if (response.status === 401 || response.status === 403) { onState("off"); return; }
      if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
      onState("on");
      wait = 1000;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let type = "message";
          const data = [];
          for (const line of block.split("\n")) {
            if (line.startsWith("id:")) lastId = line.slice(3).trim();
            else if (line.startsWith("event:")) type = line.slice(6).trim();
            else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
          }
          if (data.length) {
            try { onEvent({ type, data: JSON.parse(data.join("\n")) }); } catch { /* not JSON: not a story event */ }
          }
        }
      }
    } catch {
      // dropped (server restart, network): reconnect below
    }
    onState("retry");
    await new Promise((resolve) => window.setTimeout(resolve, wait));
    wait = Math.min(wait * 2, 30000);
  }
}

/** @param {string} state */
function showLive(state) {
  const badge = byId("live");
  if (!badge) return;
  badge.dataset.state = state;
  badge.textContent = state === "on" ? "Live" : state === "retry" ? "Reconnecting…" : "Live updates off";
}

// ---- the river ---------------------------------------------------------------------------------

/** Marks a card as just changed for a few seconds (a tint the reader's eye can find). @param {HTMLElement} card */
function flash(card) {
  card.classList.add("is-fresh");
  window.setTimeout(() => card.classList.remove("is-fresh"), 6000);
}

/** @param {string} html @returns {HTMLLIElement[]} */
function parseCards(html) {
  const template = document.createElement("template");
  template.innerHTML = html;
  return /** @type {HTMLLIElement[]} */ (Array.from(template.content.querySelectorAll("li.card, li.empty")));
}

/**
 * Runs `change` and scrolls so that the first card the reader sees stays where it was on screen.
 * @param {HTMLElement} list @param {() => void} change
 */
function keepPosition(list, change) {
  const cards = Array.from(list.children);
  const anchor = cards.find((c) => c.getBoundingClientRect().bottom > 0);
  const before = anchor ? anchor.getBoundingClientRect().top : 0;
  change();
  if (anchor && anchor.isConnected && window.scrollY > 0) {
    window.scrollBy(0, anchor.getBoundingClientRect().top - before);
  }
}

function setupRiver() {
  const list = byId("river");
  const source = list && list.dataset.live;
  if (!list || !source) return;
  const bar = byId("new-bar");
  const barButton = byId("new-bar-button");
  /** @type {Map<string, HTMLLIElement>} fresh cards not shown yet, by story id */
  const held = new Map();
  let timer = 0;
  let reading = false;
  let again = false;

  const showBar = () => {
    if (!bar || !barButton) return;
    bar.hidden = held.size === 0;
    barButton.textContent = held.size === 1 ? "1 new story" : `${held.size} new stories`;
  };

  const refresh = async () => {
    if (reading) { again = true; return; }
    reading = true;
    try {
      const response = await fetch(source, { headers: headers(), cache: "no-store" });
      if (!response.ok) return;
      const fresh = parseCards(await response.text());
      keepPosition(list, () => {
        for (const card of fresh) {
          const id = card.dataset.id || "";
          if (!id) continue;
          const shown = byId(`story-${id}`);
          if (shown) {
            // An update of a story on screen: replaced where it is, so nothing moves under the reader.
            if (shown.dataset.updated !== card.dataset.updated) {
              flash(card);
              if (shown.classList.contains("is-current")) card.classList.add("is-current");
              shown.replaceWith(card);
              refreshTimes(card);
            }
          } else {
            held.set(id, card);
          }
        }
      });
      showBar();
    } finally {
      reading = false;
      if (again) { again = false; schedule(); }
    }
  };
  const schedule = () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 400);
  };

  const reveal = () => {
    if (!held.size) return;
    const cards = Array.from(held.values());
    held.clear();
    list.querySelectorAll("li.empty").forEach((e) => e.remove());
    for (const card of cards.reverse()) {
      flash(card);
      list.prepend(card);
      refreshTimes(card);
    }
    showBar();
    window.scrollTo({ top: 0 });
    const first = list.querySelector("li.card a");
    if (first instanceof HTMLElement) first.focus({ preventScroll: true });
  };
  if (barButton) barButton.addEventListener("click", reveal);
  document.addEventListener("keydown", (e) => {
    if (e.key === "n" && !typing(e)) reveal();
  });

  followStream((event) => {
    if (event.type.startsWith("story.")) schedule();
  }, showLive);
}

function setupStory() {
  const section = document.querySelector("section[data-story]");
  const bar = byId("story-bar");
  if (!(section instanceof HTMLElement) || !bar) return;
  const id = section.dataset.story;
  followStream((event) => {
    const data = event.data || {};
    if (data.cluster_id === id || data.merged_into === id) bar.hidden = false;
  }, () => {});
}

// ---- keyboard ----------------------------------------------------------------------------------

/** Whether the key was typed into a field (shortcuts then stay out of the way). @param {KeyboardEvent} e */
function typing(e) {
  const t = e.target;
  return e.ctrlKey || e.metaKey || e.altKey || (t instanceof HTMLElement &&
    (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName)));
}

function setupKeys() {
  document.addEventListener("keydown", (e) => {
    if (typing(e)) return;
    if (e.key === "/") {
      const search = byId("q");
      if (search) { e.preventDefault(); search.focus(); }
      return;
    }
    if (e.key !== "j" && e.key !== "k") return;
    const cards = /** @type {HTMLElement[]} */ (Array.from(document.querySelectorAll("li.card")));
    if (!cards.length) return;
    const current = cards.findIndex((c) => c.classList.contains("is-current"));
    const next = Math.max(0, Math.min(cards.length - 1, current < 0 ? 0 : current + (e.key === "j" ? 1 : -1)));
    cards.forEach((c) => c.classList.remove("is-current"));
    const card = cards[next];
    card.classList.add("is-current");
    const link = card.querySelector(".headline a");
    if (link instanceof HTMLElement) link.focus({ preventScroll: true });
    card.scrollIntoView({ block: "nearest" });
  });
}

// ---- changes through /v1 -------------------------------------------------------------------------

/** @param {HTMLElement | null} box @param {string} message @param {boolean} failed */
function say(box, message, failed) {
  if (!box) { toast(message); return; }
  box.textContent = message;
  box.classList.toggle("is-error", failed);
}

function setupActions() {
  document.addEventListener("click", async (e) => {
    const target = e.target instanceof Element ? e.target.closest("button[data-action]") : null;
    if (!(target instanceof HTMLButtonElement)) return;
    const [method, path] = (target.dataset.action || "").split(" ");
    if (target.dataset.confirm && !window.confirm(target.dataset.confirm)) return;
    target.disabled = true;
    const answer = await api(method, path);
    if (answer.ok) {
      window.location.reload();
    } else {
      target.disabled = false;
      toast(`Not done: ${reason(answer.data, answer.status)}`);
    }
  });
}

/** @param {FormData} form @param {string} name */
function list(form, name) {
  return String(form.get(name) || "").split(",").map((s) => s.trim()).filter(Boolean);
}

function setupFeedForms() {
  const form = byId("feed-form");
  const box = byId("feed-result");
  if (form instanceof HTMLFormElement) {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const data = new FormData(form);
      const name = String(data.get("name") || "").trim();
      say(box, "Adding…", false);
      const answer = await api("POST", "/v1/feeds", { url: String(data.get("url") || "").trim(), ...(name ? { name } : {}) });
      if (answer.ok) {
        say(box, `Added “${answer.data.name}” (${answer.data.url}): it is polled now.`, false);
        window.setTimeout(() => window.location.reload(), 900);
      } else {
        say(box, `Not added: ${reason(answer.data, answer.status)}`, true);
      }
    });
  }
  const importer = byId("opml-import");
  if (importer instanceof HTMLInputElement) {
    importer.addEventListener("change", async () => {
      const file = importer.files && importer.files[0];
      if (!file) return;
      say(box, `Importing ${file.name}…`, false);
      const answer = await api("POST", "/v1/feeds/import", await file.text(), "text/x-opml");
      importer.value = "";
      if (!answer.ok) { say(box, `Not imported: ${reason(answer.data, answer.status)}`, true); return; }
      const d = answer.data;
      const errors = (d.errors || []).slice(0, 3).map((/** @type {any} */ x) => `${x.url}: ${x.error}`).join("; ");
      say(box, `Imported: ${d.added} added, ${d.existing} already there, ${d.invalid} invalid${errors ? ` (${errors})` : ""}.`, d.invalid > 0);
      if (d.added) window.setTimeout(() => window.location.reload(), 1500);
    });
  }
  const exporter = byId("opml-export");
  if (exporter) {
    exporter.addEventListener("click", async () => {
      const response = await fetch("/v1/feeds/export", { headers: headers() });
      if (!response.ok) { toast(`Export failed: HTTP ${response.status}`); return; }
      const link = document.createElement("a");
      link.href = URL.createObjectURL(await response.blob());
      link.download = "wirewatch-feeds.opml";
      document.body.append(link);
      link.click();
      link.remove();
      window.setTimeout(() => URL.revokeObjectURL(link.href), 1000);
    });
  }
}

function setupSubscriptionForm() {
  const form = byId("subscription-form");
  const box = byId("subscription-result");
  if (!(form instanceof HTMLFormElement)) return;
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const description = String(data.get("description") || "").trim();
    const body = {
      target_url: String(data.get("target_url") || "").trim(),
      ...(description ? { description } : {}),
      query: {
        entities: list(data, "entities"), entities_mode: String(data.get("entities_mode") || "any"),
        keywords: list(data, "keywords"), outlets: list(data, "outlets"), languages: list(data, "languages"),
        min_outlets: Number(data.get("min_outlets") || 1), events: data.getAll("events").map(String),
        digest_minutes: Number(data.get("digest_minutes") || 0),
      },
    };
    say(box, "Creating…", false);
    const answer = await api("POST", "/v1/subscriptions", body);
    if (!answer.ok) { say(box, `Not created: ${reason(answer.data, answer.status)}`, true); return; }
    say(box, "", false);
    const secret = byId("secret-box");
    const value = byId("secret-value");
    if (secret && value) {
      value.textContent = answer.data.secret;
      secret.hidden = false;
      form.hidden = true;
      byId("secret-done")?.addEventListener("click", () => window.location.assign("/subscriptions"));
      byId("secret-copy")?.addEventListener("click", () => navigator.clipboard?.writeText(answer.data.secret).then(() => toast("Secret copied")));
      byId("secret-done")?.focus();
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  refreshTimes(document);
  window.setInterval(() => refreshTimes(document), 30000);
  setupTheme();
  setupKeys();
  setupActions();
  setupFeedForms();
  setupSubscriptionForm();
  const page = document.body.dataset.page;
  if (page === "river") setupRiver();
  if (page === "story") setupStory();
});
