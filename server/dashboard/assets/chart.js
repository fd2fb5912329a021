// Revenue per bucket as an SVG bar chart, drawn with the DOM (no library, no inline styles).

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 560;
const HEIGHT = 180;
const AXIS = 22;

function element(name, attributes, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

// points: [{ label, value, text }] in time order; value in minor units of one currency.
export function drawBars(container, points, title) {
  const top = Math.max(1, ...points.map((p) => p.value));
  const step = WIDTH / Math.max(1, points.length);
  const svg = element("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-labelledby": "chart-svg-title",
    class: "bars", preserveAspectRatio: "none",
  });
  svg.append(element("title", { id: "chart-svg-title" }, title));
  svg.append(element("line", { x1: 0, y1: HEIGHT - AXIS, x2: WIDTH, y2: HEIGHT - AXIS, class: "axis" }));
  points.forEach((point, index) => {
    const height = Math.round(((HEIGHT - AXIS - 8) * point.value) / top);
    const bar = element("rect", {
      x: index * step + step * 0.15, y: HEIGHT - AXIS - height,
      width: step * 0.7, height: Math.max(height, point.value > 0 ? 1 : 0), class: "bar",
    });
    bar.append(element("title", {}, `${point.label}: ${point.text}`));
    svg.append(bar);
    if ((points.length - 1 - index) % 2 === 0 || points.length <= 7) {
      svg.append(element("text", {
        x: index * step + step / 2, y: HEIGHT - 6, "text-anchor": "middle", class: "label",
      }, point.label));
    }
  });
  container.replaceChildren(svg);
}
