/**
 * The technician's console in the browser, served by the platform (bundled by esbuild into
 * dist/console; no framework, nothing fetched from elsewhere; qrcode-generator draws a new
 * token's QR code). Signed in with the admin key (a
 * session cookie, HttpOnly), it follows the platform's event stream: pending operations appear
 * as their devices show a code, and approving one asks for the code the device shows.
 */
import qrcode from "qrcode-generator";

/** The platform's objects, as the API lists them (simulator/platform/api-schemas.ts). */
interface Operation {
  id: string;
  state: string;
  verificationCode: string | null;
  requestedDeviceId: string | null;
  deviceId: string | null;
  provisioningTokenId: string;
  attributes: Record<string, string>;
  createdAt: string;
  expiresAt: string;
}
interface Device {
  workspaceId: string;
  deviceId: string;
  connected?: boolean;
  createdAt: string;
  lastSeenAt: string | null;
  revokedAt: string | null;
  tokenExpiresAt: string | null;
  storedBytes: number;
  storedMessages: number;
}
interface Token {
  id: string;
  name: string | null;
  hint: string;
  state: string;
  uses: number;
  maxUses: number | null;
  deviceId: string | null;
  createdAt: string;
  expiresAt: string | null;
}
interface StoredMessage {
  deviceId: string;
  stream: string;
  payloadBase64: string;
  receivedAt: string;
}
interface Page {
  next: string | null;
  [list: string]: unknown;
}

const deviceIdPattern = /^[0-9A-Za-z_.-]{4,90}$/;
const codePattern = /^[0-9A-Z]{4}-[0-9A-Z]{4}$/;

const $ = <T extends Element = HTMLElement>(selector: string, root: ParentNode = document) =>
  root.querySelector(selector) as T;

/** An element with text content and attributes: every value from the platform goes in as text. */
function el(tag: string, attributes: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElement {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  element.append(...children);
  return element;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(path, {
    method,
    credentials: "same-origin",
    // The header a page of another origin cannot send without the platform's consent (CORS): CSRF-safe.
    headers: { "content-type": "application/json", "x-provisio-console": "1" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const result = (await response.json().catch(() => ({}))) as { error?: string; message?: string };
  if (response.status === 401 && path !== "/api/session") showSignIn();
  if (!response.ok) throw new ApiError(response.status, result.error ?? String(response.status), result.message ?? "");
  return result as T;
}

const age = (iso: string) => {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return seconds < 90
    ? `${seconds} s`
    : seconds < 5400
      ? `${Math.round(seconds / 60)} min`
      : `${Math.round(seconds / 3600)} h`;
};
const when = (iso: string | null) => (iso ? new Date(iso).toLocaleString() : "never");

function activity(text: string): void {
  $("#activity").prepend(el("li", {}, `${new Date().toLocaleTimeString()}  ${text}`));
}

// --- Pending operations -------------------------------------------------------------------------

const pending = new Map<string, Operation>();

function renderPendingCount(): void {
  $("#pending-count").textContent = String(pending.size);
  $("#no-operations").hidden = pending.size > 0;
}

function operationCard(op: Operation): HTMLElement {
  const code = op.verificationCode ?? "";
  const attributes =
    Object.entries(op.attributes)
      .map(([k, v]) => `${k}=${v}`)
      .join(", ") || "none";
  const typed = el("input", {
    name: "code",
    autocomplete: "off",
    spellcheck: "false",
    autocapitalize: "characters",
    placeholder: "XXXX-XXXX",
    "aria-label": `The code device ${op.requestedDeviceId ?? op.id} shows`,
  }) as HTMLInputElement;
  const deviceId = el("input", {
    name: "deviceId",
    value: op.requestedDeviceId ?? "",
    "aria-label": "Device ID",
  }) as HTMLInputElement;
  const deviceIdNote = el("span", { class: "note", "aria-live": "polite" });
  const approve = el("button", { type: "submit", disabled: "" }, "Approve") as HTMLButtonElement;
  const reject = el("button", { type: "button", class: "secondary" }, "Reject");
  const error = el("p", { class: "error", role: "alert" });
  const check = () => {
    const codeMatches = typed.value.trim().toUpperCase() === code;
    const idValid = deviceIdPattern.test(deviceId.value.trim());
    deviceIdNote.textContent = idValid ? "" : "4-90 of 0-9 A-Z a-z _ . -";
    deviceId.setAttribute("aria-invalid", String(!idValid));
    approve.disabled = !(codeMatches && idValid);
  };
  typed.addEventListener("input", check);
  deviceId.addEventListener("input", check);
  const form = el(
    "form",
    { class: "card operation", "data-operation": op.id },
    el("p", { class: "code", "aria-label": "verification code" }, code),
    el(
      "dl",
      {},
      el("dt", {}, "Asked for"),
      el("dd", {}, op.requestedDeviceId ?? "no Device ID"),
      el("dt", {}, "Attributes"),
      el("dd", {}, attributes),
      el("dt", {}, "Token"),
      el("dd", {}, op.provisioningTokenId),
      el("dt", {}, "Waiting"),
      el("dd", {}, `${age(op.createdAt)}, expires ${new Date(op.expiresAt).toLocaleTimeString()}`),
    ),
    el("label", {}, "Code on the device ", typed),
    el("label", {}, "Device ID ", deviceId, deviceIdNote),
    el("div", { class: "row" }, approve, reject),
    error,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = deviceId.value.trim();
    api<Operation>("POST", `/api/operations/${op.id}/approve`, {
      deviceId: chosen === op.requestedDeviceId ? null : chosen,
    }).then(
      () => undefined,
      (e: ApiError) => (error.textContent = `${e.code}: ${e.message}`),
    );
  });
  reject.addEventListener("click", () => {
    const reason = prompt(`Reject the operation of the device showing ${code}? Why (kept with it; may be empty):`, "");
    if (reason === null) return;
    api("POST", `/api/operations/${op.id}/reject`, { reason: reason.trim() || null }).catch(
      (e: ApiError) => (error.textContent = `${e.code}: ${e.message}`),
    );
  });
  check();
  return form;
}

function showOperation(op: Operation): void {
  if (op.state !== "pending" || op.verificationCode === null || pending.has(op.id)) return;
  pending.set(op.id, op);
  $("#operations").append(operationCard(op));
  renderPendingCount();
}

function endOperation(op: Operation, what: string): void {
  if (!pending.delete(op.id)) return;
  document.querySelector(`[data-operation="${CSS.escape(op.id)}"]`)?.remove();
  renderPendingCount();
  activity(`${op.verificationCode ?? op.id} ${what}${op.deviceId ? ` as ${op.deviceId}` : ""}`);
}

async function loadPending(): Promise<void> {
  for (let after: string | null = ""; after !== null;) {
    const page: Page = await api("GET", `/api/operations?state=pending&limit=1000${after ? `&after=${after}` : ""}`);
    for (const op of page.operations as Operation[]) showOperation(op);
    after = page.next;
  }
}

$("#batch").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target as HTMLFormElement;
  const codes = (form.elements.namedItem("codes") as HTMLTextAreaElement).value
    .split(/\s+/)
    .map((c) => c.trim().toUpperCase())
    .filter(Boolean);
  const result = $(".result", form);
  void (async () => {
    const lines: string[] = [];
    for (const code of codes) {
      if (!codePattern.test(code)) lines.push(`${code}: not a code (XXXX-XXXX)`);
      else
        await api<Operation>("POST", `/api/operations/${code}/approve`, {}).then(
          (op) => lines.push(`${code}: approved as ${op.deviceId}`),
          (e: ApiError) => lines.push(`${code}: ${e.code}`),
        );
    }
    result.textContent = lines.join("; ");
  })();
});

// --- Lists ---------------------------------------------------------------------------------------

/** A paged table: `row` makes each item's row; "More" loads the next page. */
function pagedTable<T>(section: string, list: string, path: () => string, row: (item: T) => HTMLElement) {
  const body = $(`#${section} tbody`);
  const more = $(`#${section} .more`);
  let next: string | null = null;
  const load = async (append: boolean) => {
    const separator = path().includes("?") ? "&" : "?";
    const page: Page = await api("GET", `${path()}${append && next ? `${separator}after=${next}` : ""}`);
    if (!append) body.replaceChildren();
    body.append(...(page[list] as T[]).map(row));
    next = page.next;
    more.hidden = next === null;
  };
  more.addEventListener("click", () => void load(true));
  return () => load(false);
}

const connected = new Set<string>();

const loadDevices = pagedTable<Device>(
  "devices",
  "devices",
  () => "/api/devices",
  (device) => {
    if (device.connected) connected.add(device.deviceId);
    else connected.delete(device.deviceId);
    const revoke = el("button", { type: "button", class: "secondary" }, device.revokedAt ? "Delete" : "Revoke");
    revoke.addEventListener("click", () => {
      const deleting = device.revokedAt !== null;
      const question = deleting
        ? `Delete ${device.deviceId}? Its record and Device ID are freed.`
        : `Revoke ${device.deviceId}? Its session closes and it must be approved again.`;
      if (!confirm(question)) return;
      const path = `/api/devices/${encodeURIComponent(device.deviceId)}${deleting ? "" : "/revoke"}`;
      api(deleting ? "DELETE" : "POST", path).then(
        () => void loadDevices(),
        (e: ApiError) => alert(`${e.code}: ${e.message}`),
      );
    });
    return el(
      "tr",
      { "data-device": device.deviceId },
      el("td", { "data-label": "Device ID" }, device.deviceId),
      el("td", { "data-label": "Connected", class: "connected" }, connected.has(device.deviceId) ? "yes" : "no"),
      el("td", { "data-label": "Last seen" }, when(device.lastSeenAt)),
      el("td", { "data-label": "Registered" }, when(device.createdAt)),
      el("td", { "data-label": "Token expires" }, when(device.tokenExpiresAt)),
      el("td", { "data-label": "Messages" }, `${device.storedMessages} (${Math.ceil(device.storedBytes / 1024)} KiB)`),
      el("td", { "data-label": "State" }, device.revokedAt ? `revoked ${when(device.revokedAt)}` : "active"),
      el("td", {}, revoke),
    );
  },
);

const loadTokens = pagedTable<Token>(
  "tokens",
  "tokens",
  () => "/api/tokens",
  (token) => {
    const revoke = el("button", { type: "button", class: "secondary" }, "Revoke");
    revoke.hidden = token.state !== "active";
    revoke.addEventListener("click", () => {
      if (!confirm(`Revoke token ${token.name ?? token.hint}? Devices can no longer provision with it.`)) return;
      api("POST", `/api/tokens/${token.id}/revoke`).then(
        () => void loadTokens(),
        (e: ApiError) => alert(`${e.code}: ${e.message}`),
      );
    });
    return el(
      "tr",
      {},
      el("td", { "data-label": "Name" }, token.name ?? "-"),
      el("td", { "data-label": "Hint" }, token.hint),
      el("td", { "data-label": "State" }, token.state),
      el("td", { "data-label": "Uses" }, `${token.uses}${token.maxUses === null ? "" : ` of ${token.maxUses}`}`),
      el("td", { "data-label": "Device ID" }, token.deviceId ?? "-"),
      el("td", { "data-label": "Created" }, when(token.createdAt)),
      el("td", { "data-label": "Expires" }, token.expiresAt ? when(token.expiresAt) : "no expiry"),
      el("td", {}, revoke),
    );
  },
);

$("#new-token").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target as HTMLFormElement;
  const value = (name: string) => (form.elements.namedItem(name) as HTMLInputElement).value.trim();
  const number = (name: string) => (value(name) === "" ? null : Number(value(name)));
  const seconds = (name: string) => {
    const days = number(name);
    return days === null ? null : Math.round(days * 86400);
  };
  api<{ token: string }>("POST", "/api/tokens", {
    name: value("name") || null,
    expiresIn: seconds("expiresDays"),
    registrationLifetime: seconds("lifetimeDays"),
    maxUses: number("maxUses"),
    deviceId: value("deviceId") || null,
  }).then(
    ({ token }) => {
      $(".error", form).textContent = "";
      $("#created-token").hidden = false;
      $("#created-token .secret").textContent = token;
      // For a phone or a scanner at the bench: the token as a QR code, drawn here (no service asked).
      const qr = qrcode(0, "M");
      qr.addData(token);
      qr.make();
      $("#created-token .qr").innerHTML = qr.createSvgTag({ cellSize: 4, margin: 2, scalable: true });
      form.reset();
      void loadTokens();
    },
    (e: ApiError) => ($(".error", form).textContent = `${e.code}: ${e.message}`),
  );
});

$("#created-token .copy").addEventListener("click", () => {
  void navigator.clipboard?.writeText($("#created-token .secret").textContent ?? "");
});

/** A payload as text when it is UTF-8 (pretty when JSON), else as hex. */
function payloadText(base64: string): string {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    try {
      return JSON.stringify(JSON.parse(text));
    } catch {
      return text;
    }
  } catch {
    return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(" ");
  }
}

let messageQuery = "";
const loadMessages = pagedTable<StoredMessage>(
  "messages",
  "messages",
  () => `/api/messages${messageQuery}`,
  (message) =>
    el(
      "tr",
      {},
      el("td", { "data-label": "Received" }, when(message.receivedAt)),
      el("td", { "data-label": "Device ID" }, message.deviceId),
      el("td", { "data-label": "Stream" }, message.stream),
      el("td", { "data-label": "Payload", class: "payload" }, payloadText(message.payloadBase64)),
    ),
);

$("#message-filter").addEventListener("submit", (event) => {
  event.preventDefault();
  const query = new URLSearchParams();
  for (const name of ["device", "stream"]) {
    const value = ((event.target as HTMLFormElement).elements.namedItem(name) as HTMLInputElement).value.trim();
    if (value) query.set(name, value);
  }
  messageQuery = query.size ? `?${query}` : "";
  void loadMessages();
});

// --- Views, events, sign-in ----------------------------------------------------------------------

const views: Record<string, () => Promise<void>> = {
  pending: async () => undefined,
  devices: loadDevices,
  tokens: loadTokens,
  messages: loadMessages,
};

function show(view: string): void {
  for (const name of Object.keys(views)) $(`#${name}`).hidden = name !== view;
  for (const button of document.querySelectorAll("#nav [data-view]"))
    if ((button as HTMLElement).dataset.view === view) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  void views[view]();
}

for (const button of document.querySelectorAll("#nav [data-view]"))
  button.addEventListener("click", () => show((button as HTMLElement).dataset.view!));

let events: EventSource | undefined;

function follow(): void {
  events?.close();
  events = new EventSource("/api/events");
  const on = (type: string, handle: (body: { operation: Operation; device: Device }) => void) =>
    events!.addEventListener(type, (event) => handle(JSON.parse((event as MessageEvent<string>).data)));
  on("operation-revealed", ({ operation }) => showOperation(operation));
  on("operation-approved", ({ operation }) => endOperation(operation, "approved"));
  on("operation-rejected", ({ operation }) => endOperation(operation, "rejected"));
  on("operation-expired", ({ operation }) => endOperation(operation, "expired"));
  const connection = (deviceId: string, now: boolean) => {
    if (now) connected.add(deviceId);
    else connected.delete(deviceId);
    const cell = document.querySelector(`[data-device="${CSS.escape(deviceId)}"] .connected`);
    if (cell) cell.textContent = now ? "yes" : "no";
  };
  on("device-connected", ({ device }) => {
    connection(device.deviceId, true);
    activity(`${device.deviceId} connected`);
  });
  on("device-disconnected", ({ device }) => connection(device.deviceId, false));
  on("device-revoked", ({ device }) => activity(`${device.deviceId} revoked`));
}

function showSignIn(): void {
  events?.close();
  $("#nav").hidden = true;
  for (const name of Object.keys(views)) $(`#${name}`).hidden = true;
  $("#sign-in").hidden = false;
}

async function start(): Promise<void> {
  $("#sign-in").hidden = true;
  $("#nav").hidden = false;
  follow();
  show("pending");
  await loadPending();
  renderPendingCount();
}

$("#sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target as HTMLFormElement;
  const key = form.elements.namedItem("adminKey") as HTMLInputElement;
  api("POST", "/api/session", { adminKey: key.value }).then(
    () => {
      key.value = "";
      void start();
    },
    (e: ApiError) => ($(".error", form).textContent = e.status === 401 ? "That is not the admin key." : e.message),
  );
});

$("#sign-out").addEventListener("click", () => {
  void api("DELETE", "/api/session").finally(showSignIn);
});

// Signed in already when the cookie's session is.
api<{ signedIn: boolean }>("GET", "/api/session").then(
  ({ signedIn }) => (signedIn ? void start() : showSignIn()),
  () => showSignIn(),
);
