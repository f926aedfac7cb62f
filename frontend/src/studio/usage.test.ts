import { describe, expect, it } from "vitest";

import { usageSentence } from "./usage";

describe("usageSentence", () => {
  it("says nothing when no dashboard uses it", () => {
    expect(usageSentence({ dashboards: 0, own_dashboards: 0, other_users: 0 })).toBe("");
  });

  it("counts the dashboards and whose they are", () => {
    expect(usageSentence({ dashboards: 1, own_dashboards: 0, other_users: 1 })).toBe(
      "1 dashboard uses it (it belongs to 1 other user).",
    );
    expect(usageSentence({ dashboards: 3, own_dashboards: 1, other_users: 2 })).toBe(
      "3 dashboards use it (2 of them belong to 2 other users).",
    );
    expect(usageSentence({ dashboards: 4, own_dashboards: 0, other_users: 3 })).toBe(
      "4 dashboards use it (they belong to 3 other users).",
    );
    expect(usageSentence({ dashboards: 2, own_dashboards: 2, other_users: 0 })).toBe(
      "2 dashboards use it (all yours).",
    );
    const pinned: [string, string] = ["depends on it", "depend on it"];
    expect(usageSentence({ dashboards: 1, own_dashboards: 1, other_users: 0 }, pinned)).toBe(
      "1 dashboard depends on it (yours).",
    );
  });
});
