// Words for "who would lose it": the confirmations of deleting a module and of
// withdrawing a version say how many dashboards use it, and whose.
import type { ModuleUsage } from "./api";

const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`;

/** "3 dashboards use it (2 of them belong to 1 other user)."; "" when none does.
 *  `verb` is the [singular, plural] verb phrase. */
export function usageSentence(usage: ModuleUsage, verb: [string, string] = ["uses it", "use it"]): string {
  const n = usage.dashboards;
  if (n === 0) return "";
  const theirs = n - usage.own_dashboards;
  const others = count(usage.other_users, "other user");
  let whose: string;
  if (theirs === 0) whose = n === 1 ? "yours" : "all yours";
  else if (theirs === n) whose = `${n === 1 ? "it belongs" : "they belong"} to ${others}`;
  else whose = `${theirs} of them belong to ${others}`;
  return `${count(n, "dashboard")} ${n === 1 ? verb[0] : verb[1]} (${whose}).`;
}
