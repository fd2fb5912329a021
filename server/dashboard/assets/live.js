// A small graphql-transport-ws client. One socket per signed-in tenant; each subscription
// remembers the cursor of its last event and resumes after it when the socket comes back, so
// events committed while it was away are replayed from the outbox, not lost.

const PROTOCOL = "graphql-transport-ws";
const DELAYS_MS = [250, 500, 1000, 2000, 3000];
const REFUSED = new Set([4400, 4401, 4403]); // the credential or the request is wrong: retrying will not help

export class LiveClient {
  // onState(state, detail): "connecting" | "live" | "reconnecting" | "resynced" | "refused"
  // onResync(): re-fetch everything; awaited before "resynced" is shown.
  constructor({ url, token, onState, onResync }) {
    this.url = url;
    this.token = token;
    this.onState = onState;
    this.onResync = onResync;
    this.operations = new Map(); // name -> { query, field, onEvent, cursor, wireId }
    this.sequence = 0;
    this.attempt = 0;
    this.socket = null;
    this.acknowledged = false;
    this.everAcknowledged = false;
    this.stopped = true;
    this.timer = null;
  }

  subscribe(name, query, field, onEvent) {
    const operation = { query, field, onEvent, cursor: null, wireId: null };
    this.operations.set(name, operation);
    if (this.acknowledged) this.#start(operation);
  }

  open() {
    this.stopped = false;
    this.#connect();
  }

  close() {
    this.stopped = true;
    clearTimeout(this.timer);
    const socket = this.socket;
    this.socket = null;
    if (socket) socket.close(1000, "signed out");
  }

  #connect() {
    this.acknowledged = false;
    this.onState(this.everAcknowledged ? "reconnecting" : "connecting", this.attempt);
    const socket = new WebSocket(this.url, PROTOCOL);
    this.socket = socket;
    socket.onopen = () => this.#send({
      type: "connection_init", payload: { Authorization: `Bearer ${this.token}` },
    });
    socket.onmessage = (message) => {
      if (socket === this.socket) this.#receive(JSON.parse(message.data));
    };
    socket.onclose = (event) => {
      if (socket === this.socket) this.#closed(event);
    };
  }

  #receive(message) {
    if (message.type === "connection_ack") this.#acknowledge();
    else if (message.type === "ping") this.#send({ type: "pong" });
    else if (message.type === "next") this.#next(message.id, message.payload);
    else if (message.type === "error") this.#failed(message.id, message.payload);
  }

  #acknowledge() {
    const resumed = this.everAcknowledged;
    this.acknowledged = true;
    this.everAcknowledged = true;
    this.attempt = 0;
    for (const operation of this.operations.values()) this.#start(operation);
    if (resumed) this.#resync();
    else this.onState("live");
  }

  async #resync() {
    await this.onResync();
    if (this.acknowledged) this.onState("resynced");
  }

  #start(operation) {
    this.sequence += 1;
    operation.wireId = String(this.sequence);
    this.#send({
      type: "subscribe", id: operation.wireId,
      payload: { query: operation.query, variables: { after: operation.cursor } },
    });
  }

  #operation(wireId) {
    for (const operation of this.operations.values()) {
      if (operation.wireId === wireId) return operation;
    }
    return null;
  }

  #next(wireId, payload) {
    const operation = this.#operation(wireId);
    if (!operation) return;
    if (payload.errors && payload.errors.length) {
      this.#failed(wireId, payload.errors);
      return;
    }
    const event = payload.data && payload.data[operation.field];
    if (!event) return;
    operation.cursor = event.cursor;
    operation.onEvent(event);
  }

  #failed(wireId, errors) {
    const operation = this.#operation(wireId);
    if (!operation) return;
    operation.wireId = null; // the server ended this operation
    const resync = (errors || []).find((e) => e.extensions && e.extensions.code === "RESYNC_REQUIRED");
    if (!resync) {
      this.onState("problem", (errors || []).map((e) => e.message).join("; "));
      return;
    }
    // Fell behind: the server names the last event it sent; resume after it and re-read
    // everything, since what the page shows may be stale.
    const details = resync.extensions.details || {};
    if (details.cursor) operation.cursor = details.cursor;
    this.#start(operation);
    this.#resync();
  }

  #closed(event) {
    this.acknowledged = false;
    if (this.stopped) return;
    if (REFUSED.has(event.code)) {
      this.stopped = true;
      this.onState("refused", event.reason || `closed with ${event.code}`);
      return;
    }
    const delay = DELAYS_MS[Math.min(this.attempt, DELAYS_MS.length - 1)];
    this.attempt += 1;
    this.onState("reconnecting", this.attempt);
    this.timer = setTimeout(() => this.#connect(), delay);
  }

  #send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
    }
  }
}
