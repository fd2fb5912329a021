// Queries and mutations over POST /graphql, and the documents the dashboard sends.

export class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

export async function graphql(session, query, variables = {}) {
  let response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json",
        authorization: `Bearer ${session.credential}`,
      },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw new ApiError("the API cannot be reached", "UNREACHABLE");
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`the API answered ${response.status} without JSON`, "BAD_RESPONSE");
  }
  const errors = body.errors || (body.detail ? [{ message: body.detail }] : []);
  if (errors.length || !response.ok) {
    const first = errors[0] || { message: `the API answered ${response.status}` };
    throw new ApiError(first.message, first.extensions && first.extensions.code);
  }
  return body.data;
}

export const TENANT = "query DashboardTenant { tenant { slug name modules extensions } }";

export const KPIS = `
query DashboardKpis($today: TimeRangeInput!, $days: TimeRangeInput!) {
  today: performance(range: $today, granularity: DAY) {
    total { orderCount unitsSold sales { currency revenue { amount } averageOrderValue { amount } } }
  }
  days: performance(range: $days, granularity: DAY) {
    buckets { start sales { currency revenue { amount } } }
  }
}`;

export const ORDERS = `
query DashboardOrders {
  orders(first: 10, orderBy: { field: CREATED_AT, direction: DESC }) {
    edges { node { id number status createdAt total { amount currency } customer { email } } }
  }
}`;

export const LOW_STOCK = `
query DashboardLowStock($below: Int!) {
  stockLevels(first: 20, filter: { availableBelow: $below }) {
    edges { node { id sku available location { id name } } }
  }
}`;

const deliveries = (alias, status, first, fields) =>
  `${alias}: webhookDeliveries(status: ${status}, first: ${first}) {
    totalCount edges { node { ${fields} } } }`;
const PROBLEM = "id flow deliveryId status lastError receivedAt";

export const SHOWN = 10;
export const WEBHOOKS = `
query DashboardWebhooks {
  ${deliveries("PROCESSED", "PROCESSED", 0, "id")}
  ${deliveries("QUEUED", "QUEUED", 0, "id")}
  ${deliveries("FAILED", "FAILED", SHOWN, PROBLEM)}
  ${deliveries("DEAD", "DEAD", SHOWN, PROBLEM)}
}`;

export const REPLAY = `
mutation DashboardReplay($ids: [ID!]!) {
  replayWebhookDeliveries(input: { ids: $ids }) { replayed errors { message code } }
}`;

export const FASHION = `
query DashboardFashion($range: TimeRangeInput!) {
  fashionSellThrough(range: $range, by: SEASON) { value unitsSold onHand sellThrough }
}`;

export const ORDER_EVENTS = `
subscription DashboardOrders($after: String) {
  orderUpdated(after: $after) { cursor type aggregateId payload createdAt }
}`;

export const STOCK_EVENTS = `
subscription DashboardStock($after: String) {
  inventoryChanged(after: $after) { cursor sku locationId available onHand }
}`;
