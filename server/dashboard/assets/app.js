// The dashboard page: sign-in, then panels read over POST /graphql and kept current by
// subscriptions (live.js). Every number comes from the API; events only say when to re-read.

import * as api from "./api.js";
import { drawBars } from "./chart.js";
import * as format from "./format.js";
import { LiveClient } from "./live.js";

const STORAGE = "tenantgraph.dashboard";
const LOW_STOCK_BELOW = 5;
const ACTIVITY_KEPT = 15;
const REFRESH_DELAY_MS = 100; // a burst of events (one order: several) becomes one re-read
const WEBHOOKS_EVERY_MS = 15_000; // deliveries have no events of their own: webhook health is polled
const STATES = {
  "signed-out": "Signed out",
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  resynced: "Live · resynced",
  refused: "Disconnected",
  problem: "Live · a subscription failed",
};

const $ = (id) => document.getElementById(id);
const state = { session: null, tenant: null, live: null, pending: null, poll: null, lowStock: new Map() };

function setConnection(name, detail) {
  const node = $("connection");
  node.dataset.state = name;
  const extra = name === "refused" || name === "problem" ? `: ${detail}` : "";
  node.textContent = STATES[name] + extra;
}

function cell(text, tag = "td") {
  const node = document.createElement(tag);
  node.textContent = text;
  return node;
}

function item(text, className) {
  const node = document.createElement("li");
  node.textContent = text;
  if (className) node.className = className;
  return node;
}

function dayStart(date) {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate());
}

function ranges() {
  const today = dayStart(new Date());
  const tomorrow = new Date(today.getTime() + 86_400_000);
  const now = new Date();
  const utcTomorrow = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
  const daysFrom = new Date(utcTomorrow.getTime() - 14 * 86_400_000);
  return {
    today: { from: today.toISOString(), to: tomorrow.toISOString() },
    days: { from: daysFrom.toISOString(), to: utcTomorrow.toISOString() },
    year: { from: new Date(tomorrow.getTime() - 365 * 86_400_000).toISOString(), to: tomorrow.toISOString() },
  };
}

async function loadKpis() {
  const { today, days } = ranges();
  const data = await api.graphql(state.session, api.KPIS, { today, days });
  const total = data.today.total;
  document.querySelector('[data-tile="revenue"]').textContent = format.moneyList(total.sales, (s) => s.revenue);
  document.querySelector('[data-tile="orders"]').textContent = String(total.orderCount);
  document.querySelector('[data-tile="average"]').textContent = format.moneyList(total.sales, (s) => s.averageOrderValue);
  document.querySelector('[data-tile="units"]').textContent = String(total.unitsSold);
  const currency = data.days.buckets.flatMap((b) => b.sales.map((s) => s.currency))[0] || null;
  const points = data.days.buckets.map((bucket) => {
    const sale = bucket.sales.find((s) => s.currency === currency);
    const value = sale ? Number(sale.revenue.amount) : 0;
    return { label: format.day(bucket.start), value, text: currency ? format.money(value, currency) : "0" };
  });
  drawBars($("chart"), points, `Revenue per day${currency ? ` in ${currency}` : ""}, last 14 days`);
}

async function loadOrders() {
  const data = await api.graphql(state.session, api.ORDERS);
  const rows = data.orders.edges.map(({ node }) => {
    const row = document.createElement("tr");
    row.dataset.orderId = node.id;
    const status = cell(format.status(node.status));
    status.className = `status status-${node.status.toLowerCase()}`;
    row.append(
      cell(`#${node.number}`, "th"), status, cell(format.money(node.total.amount, node.total.currency)),
      cell(node.customer ? node.customer.email : "—"), cell(format.time(node.createdAt)),
    );
    row.firstChild.scope = "row";
    return row;
  });
  $("orders").replaceChildren(...(rows.length ? rows : [emptyRow(5, "No orders yet")]));
}

function emptyRow(span, text) {
  const row = document.createElement("tr");
  const only = cell(text);
  only.colSpan = span;
  row.append(only);
  return row;
}

async function loadLowStock() {
  const data = await api.graphql(state.session, api.LOW_STOCK, { below: LOW_STOCK_BELOW });
  state.lowStock = new Map(data.stockLevels.edges.map(({ node }) =>
    [`${node.sku}@${node.location.id}`, { sku: node.sku, where: node.location.name, available: node.available }]));
  drawLowStock();
}

function drawLowStock() {
  const alerts = [...state.lowStock.values()].map((s) =>
    item(`${s.sku} at ${s.where}: ${s.available} available`, s.available === 0 ? "out" : "low"));
  $("low-stock").replaceChildren(...(alerts.length ? alerts : [item(`Nothing below ${LOW_STOCK_BELOW} units`, "calm")]));
}

async function loadWebhooks() {
  let data;
  try {
    data = await api.graphql(state.session, api.WEBHOOKS);
  } catch (error) {
    if (error.code !== "FORBIDDEN") throw error;
    $("webhook-note").textContent = "Webhook health needs a key with the admin scope.";
    return;
  }
  for (const [status, page] of Object.entries(data)) {
    document.querySelector(`[data-count="${status}"]`).textContent = String(page.totalCount);
  }
  $("webhook-note").textContent = "";
  const problems = [...data.FAILED.edges, ...data.DEAD.edges].slice(0, api.SHOWN).map(({ node }) => problemItem(node));
  $("webhook-problems").replaceChildren(...problems);
}

function problemItem(delivery) {
  const node = item(`${delivery.status} ${delivery.flow} ${delivery.deliveryId}: ${delivery.lastError || "no error recorded"} `);
  const replay = document.createElement("button");
  replay.type = "button";
  replay.textContent = "Replay";
  replay.setAttribute("aria-label", `Replay delivery ${delivery.deliveryId}`);
  replay.addEventListener("click", () => replayDelivery(delivery.id, replay));
  node.append(replay);
  return node;
}

async function replayDelivery(id, button) {
  button.disabled = true;
  try {
    const data = await api.graphql(state.session, api.REPLAY, { ids: [id] });
    const errors = data.replayWebhookDeliveries.errors;
    $("webhook-note").textContent = errors.length ? errors.map((e) => e.message).join("; ") : "Replay queued.";
  } catch (error) {
    $("webhook-note").textContent = `Replay refused: ${error.message}`;
  }
  schedule();
}

async function loadFashion() {
  const data = await api.graphql(state.session, api.FASHION, { range: ranges().year });
  const rows = data.fashionSellThrough.map((s) => {
    const row = document.createElement("tr");
    row.append(cell(s.value || "—", "th"), cell(String(s.unitsSold)), cell(String(s.onHand)), cell(format.percent(s.sellThrough)));
    row.firstChild.scope = "row";
    return row;
  });
  $("fashion").replaceChildren(...(rows.length ? rows : [emptyRow(4, "No seasons yet")]));
}

function enabled(panel) {
  const module = panel.dataset.module;
  const extension = panel.dataset.extension;
  if (module) return state.tenant.modules.includes(module);
  if (extension) return state.tenant.extensions.includes(extension);
  return true;
}

const LOADERS = [
  [".tiles-panel", loadKpis], [".orders-panel", loadOrders], [".stock-panel", loadLowStock],
  [".webhooks-panel", loadWebhooks], [".fashion-panel", loadFashion],
];

async function loadAll() {
  const jobs = LOADERS.filter(([selector]) => !document.querySelector(selector).hidden).map(([, load]) => load());
  const results = await Promise.allSettled(jobs);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) setConnection("problem", failed.reason.message);
}

function schedule() {
  clearTimeout(state.pending);
  state.pending = setTimeout(loadAll, REFRESH_DELAY_MS);
}

function onOrderEvent(event) {
  const payload = event.payload || {};
  const text = event.type === "order.created"
    ? `Order #${payload.number} placed (${format.status(payload.status)})`
    : event.type === "order.status_changed"
      ? `Order #${payload.number}: ${format.status(payload.from)} → ${format.status(payload.to)}`
      : `${event.type} on order ${event.aggregateId}`;
  const entry = item(`${format.time(event.createdAt)} ${text}`);
  $("activity").prepend(entry);
  while ($("activity").children.length > ACTIVITY_KEPT) $("activity").lastChild.remove();
  schedule();
}

function onStockEvent(event) {
  const key = `${event.sku}@${event.locationId}`;
  const known = state.lowStock.get(key);
  if (event.available >= LOW_STOCK_BELOW) state.lowStock.delete(key);
  else state.lowStock.set(key, { sku: event.sku, where: known ? known.where : "…", available: event.available });
  drawLowStock();
  schedule();
}

function pollWebhooks() {
  if (!state.live || !state.live.acknowledged) return; // while disconnected the state says so already
  loadWebhooks().catch((error) => setConnection("problem", error.message));
}

function startLive() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const url = `${scheme}://${location.host}/graphql?tenant=${encodeURIComponent(state.session.tenant)}`;
  const live = new LiveClient({ url, token: state.session.credential, onState: setConnection, onResync: loadAll });
  if (state.tenant.modules.includes("orders")) live.subscribe("orders", api.ORDER_EVENTS, "orderUpdated", onOrderEvent);
  if (state.tenant.modules.includes("inventory")) live.subscribe("stock", api.STOCK_EVENTS, "inventoryChanged", onStockEvent);
  state.live = live;
  live.open();
  state.poll = setInterval(pollWebhooks, WEBHOOKS_EVERY_MS);
}

async function signIn(session) {
  const data = await api.graphql(session, api.TENANT);
  if (data.tenant.slug !== session.tenant) {
    throw new api.ApiError(`this credential belongs to another tenant than "${session.tenant}"`, "FORBIDDEN");
  }
  state.session = session;
  state.tenant = data.tenant;
  sessionStorage.setItem(STORAGE, JSON.stringify(session));
  $("tenant-name").textContent = data.tenant.name;
  for (const panel of document.querySelectorAll("#board .panel")) panel.hidden = !enabled(panel);
  $("activity").replaceChildren();
  $("sign-in").hidden = true;
  $("board").hidden = false;
  $("sign-out").hidden = false;
  startLive();
  await loadAll();
}

function signOut() {
  if (state.live) state.live.close();
  clearTimeout(state.pending);
  clearInterval(state.poll);
  Object.assign(state, { session: null, tenant: null, live: null, pending: null, poll: null, lowStock: new Map() });
  sessionStorage.removeItem(STORAGE);
  for (const id of ["orders", "activity", "low-stock", "webhook-problems", "fashion", "chart"]) $(id).replaceChildren();
  for (const node of document.querySelectorAll("[data-tile], [data-count]")) node.textContent = "–";
  $("tenant-name").textContent = "";
  $("board").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-form").reset();
  setConnection("signed-out");
  $("tenant").focus();
}

async function submit(event) {
  event.preventDefault();
  const form = event.target;
  const session = { tenant: form.tenant.value.trim(), credential: form.credential.value.trim() };
  if (!session.tenant || !session.credential) {
    $("sign-in-error").textContent = "Give the tenant and an API key or JWT.";
    return;
  }
  $("sign-in-error").textContent = "";
  try {
    await signIn(session);
  } catch (error) {
    $("sign-in-error").textContent = `Sign-in failed: ${error.message}`;
  }
}

function boot() {
  $("sign-in-form").addEventListener("submit", submit);
  $("sign-out").addEventListener("click", signOut);
  const saved = sessionStorage.getItem(STORAGE);
  if (saved) signIn(JSON.parse(saved)).catch(() => signOut());
}

boot();
