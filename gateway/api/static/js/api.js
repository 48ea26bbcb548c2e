// The dashboard's only way out: the gateway's admin endpoints and its live feed, same origin.
// The admin key, when the gateway wants one, lives in this tab's sessionStorage and nowhere else.

const KEY = "gateway.adminKey";

export class KeyNeeded extends Error {
  constructor(status, message) {
    super(message || (status === 403 ? "This key may not read the dashboard." : "A key is needed."));
    this.status = status;
  }
}

export function key() {
  return sessionStorage.getItem(KEY) || "";
}

export function setKey(value) {
  sessionStorage.setItem(KEY, value.trim());
}

export function forgetKey() {
  sessionStorage.removeItem(KEY);
}

/** GET a JSON endpoint; null when it does not exist (404); KeyNeeded on 401 and 403. */
export async function get(path) {
  const headers = { accept: "application/json" };
  if (key()) headers.authorization = `Bearer ${key()}`;
  const response = await fetch(path, { headers, cache: "no-store" });
  if (response.status === 401 || response.status === 403) {
    let message = "";
    try { message = (await response.json()).error.message; } catch { /* not JSON */ }
    throw new KeyNeeded(response.status, message);
  }
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

/** Follow /ws/routing, reconnecting with backoff; `onState` hears "live", "connecting", "offline". */
export function follow(onMessage, onState) {
  let socket = null;
  let delay = 500;
  let stopped = false;
  const open = () => {
    const url = new URL("ws/routing", window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    if (key()) url.searchParams.set("key", key());
    onState("connecting");
    socket = new WebSocket(url);
    socket.onopen = () => { delay = 500; onState("live"); };
    socket.onmessage = (event) => {
      try { onMessage(JSON.parse(event.data)); } catch (err) { console.error(err); }
    };
    socket.onclose = () => {
      if (stopped) return;
      onState("offline");
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 10000);
    };
  };
  open();
  return () => { stopped = true; if (socket) socket.close(); };
}
