// `/frames/lib/echarts-gauge.min.js`: Apache ECharts with only the gauge chart and the
// SVG renderer, as the global `echarts` (`echarts.init(element, theme, {renderer:
// 'svg'})`). A third of `echarts.min.js`, so a third of what evaluating it costs each
// widget frame (the built-in Gauge uses it; docs/widgets.md). Built by
// `vite.config.ts` (frameLibs) as an IIFE.
import { GaugeChart } from "echarts/charts";
import { init, use } from "echarts/core";
import { SVGRenderer } from "echarts/renderers";

use([GaugeChart, SVGRenderer]);

export { init };
