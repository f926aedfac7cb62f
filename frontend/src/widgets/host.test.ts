import { describe, expect, it } from "vitest";

import { MAX_HEIGHT, MAX_HISTORY_POINTS, MAX_LIBRARIES, MAX_LOG_CHARS, parseWidgetMessage } from "./host";

describe("parseWidgetMessage", () => {
  it("accepts the three message types", () => {
    expect(parseWidgetMessage({ type: "ready" })).toEqual({ type: "ready" });
    expect(parseWidgetMessage({ type: "log", level: "warn", message: "hm" })).toEqual({
      type: "log",
      level: "warn",
      message: "hm",
    });
    expect(parseWidgetMessage({ type: "resize", height: 120.4 })).toEqual({
      type: "resize",
      height: 120,
    });
  });

  it("accepts a request for libraries by plain name and content hash", () => {
    const names = [
      ["echarts.min.js", "0123456789abcdef"],
      ["uplot.min.css", "fedcba9876543210"],
    ];
    expect(parseWidgetMessage({ type: "libraries", names })).toEqual({ type: "libraries", names });
  });

  it("accepts a request for history by id, points and times, nothing else", () => {
    expect(parseWidgetMessage({ type: "history", id: 3, points: 500, source: "/i2/secret" })).toEqual({
      type: "history",
      id: 3,
      points: 500,
    });
    expect(parseWidgetMessage({ type: "history", id: 4, points: 10, from: 1000, to: 2000 })).toEqual({
      type: "history",
      id: 4,
      points: 10,
      from: 1000,
      to: 2000,
    });
    for (const bad of [
      { type: "history", points: 10 },
      { type: "history", id: "1", points: 10 },
      { type: "history", id: 1, points: 0 },
      { type: "history", id: 1, points: MAX_HISTORY_POINTS + 1 },
      { type: "history", id: 1, points: 1.5 },
      { type: "history", id: 1, points: 10, from: "yesterday" },
      { type: "history", id: 1, points: 10, to: -1 },
    ]) {
      expect(parseWidgetMessage(bad)).toBeNull();
    }
  });

  it("drops extra fields and bounds sizes", () => {
    const long = "x".repeat(MAX_LOG_CHARS + 10);
    const log = parseWidgetMessage({ type: "log", level: "info", message: long, html: "<b>" });
    expect(log).toEqual({ type: "log", level: "info", message: "x".repeat(MAX_LOG_CHARS) });
    expect(parseWidgetMessage({ type: "resize", height: 1e9 })).toEqual({
      type: "resize",
      height: MAX_HEIGHT,
    });
    expect(parseWidgetMessage({ type: "resize", height: -5 })).toEqual({ type: "resize", height: 0 });
  });

  it("refuses anything else", () => {
    const refused: unknown[] = [
      null,
      undefined,
      "ready",
      42,
      [{ type: "ready" }],
      {},
      { type: "navigate", url: "https://example.invalid" },
      { type: "log", level: "debug", message: "x" },
      { type: "log", level: "info", message: { toString: "x" } },
      { type: "resize", height: "100" },
      { type: "resize", height: Number.NaN },
      { type: "resize", height: Number.POSITIVE_INFINITY },
      { type: "libraries", names: "echarts.min.js" },
      { type: "libraries", names: [["echarts.min.js"]] },
      { type: "libraries", names: [["../api/auth/me", "0123456789abcdef"]] },
      { type: "libraries", names: [["/api/x.js", "0123456789abcdef"]] },
      { type: "libraries", names: [["echarts.min.js", "../../api"]] },
      { type: "libraries", names: [["index.html", "0123456789abcdef"]] },
      { type: "libraries", names: [["echarts.min.js?x=.js", "0123456789abcdef"]] },
      { type: "libraries", names: Array(MAX_LIBRARIES + 1).fill(["a.js", "0123456789abcdef"]) },
    ];
    for (const data of refused) expect(parseWidgetMessage(data)).toBeNull();
  });
});
