// Formatting of the API's values: money in minor units per currency, times, statuses.

const digitsCache = new Map();

function digits(currency) {
  if (!digitsCache.has(currency)) {
    const format = new Intl.NumberFormat(undefined, { style: "currency", currency });
    digitsCache.set(currency, format.resolvedOptions().maximumFractionDigits);
  }
  return digitsCache.get(currency);
}

export function money(amount, currency) {
  const value = Number(amount) / 10 ** digits(currency);
  return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(value);
}

export function moneyList(sales, pick) {
  if (!sales.length) return "0";
  return sales.map((s) => money(pick(s).amount, s.currency)).join(" · ");
}

export function time(iso) {
  return new Date(iso).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function day(iso) {
  return new Date(iso).toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
}

export function status(value) {
  return String(value).toUpperCase();
}

export function percent(rate) {
  return `${(rate * 100).toFixed(1)} %`;
}
