import { describe, expect, it } from "vitest";

import { exportFileName } from "./dashboards";

describe("exportFileName", () => {
  it("makes a tidy file name from the dashboard's name", () => {
    expect(exportFileName("Plant floor")).toBe("plant-floor.visualbox.json");
    expect(exportFileName("  Café / Kühlung: Hall 2 ")).toBe("cafe-kuhlung-hall-2.visualbox.json");
    expect(exportFileName("???")).toBe("dashboard.visualbox.json");
  });
});
