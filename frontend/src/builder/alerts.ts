// Alert rules of a dashboard (docs/alerts.md): typed calls, and the state the builder
// holds: the rules with their state, kept current by the live room's ALERT messages, and
// the sources of the firing ones, which widget cells inject to show a badge.
import { type InjectionKey, type Ref, computed, inject, provide, ref } from "vue";

import { client, ok } from "../api";
import type { AlertEventPublic, AlertRuleCreate, AlertRulePublic, AlertRuleUpdate, LiveAlert } from "../generated/api";

export type { AlertEventPublic, AlertRuleCreate, AlertRulePublic, AlertRuleUpdate, LiveAlert };
export type Condition = AlertRulePublic["condition"];

export const CONDITIONS: { value: Condition; label: string }[] = [
  { value: "above", label: "is above" },
  { value: "below", label: "is below" },
  { value: "equals", label: "equals" },
  { value: "changed", label: "changed" },
  { value: "no_data", label: "has no data for" },
];

const rulePath = (id: string, rule: string) => ({ dashboard_id: id, rule_id: rule });

export const alertsApi = {
  list: (id: string) => ok(client.GET("/api/dashboards/{dashboard_id}/alerts", { params: { path: { dashboard_id: id } } })),
  create: (id: string, body: AlertRuleCreate) =>
    ok(client.POST("/api/dashboards/{dashboard_id}/alerts", { params: { path: { dashboard_id: id } }, body })),
  update: (id: string, rule: string, body: AlertRuleUpdate) =>
    ok(client.PATCH("/api/dashboards/{dashboard_id}/alerts/{rule_id}", { params: { path: rulePath(id, rule) }, body })),
  remove: (id: string, rule: string) =>
    ok(client.DELETE("/api/dashboards/{dashboard_id}/alerts/{rule_id}", { params: { path: rulePath(id, rule) } })),
  history: (id: string, rule: string) =>
    ok(client.GET("/api/dashboards/{dashboard_id}/alerts/{rule_id}/history", { params: { path: rulePath(id, rule) } })),
  silence: (id: string, rule: string, minutes: number) =>
    ok(
      client.POST("/api/dashboards/{dashboard_id}/alerts/{rule_id}/silence", {
        params: { path: rulePath(id, rule) },
        body: { minutes },
      }),
    ),
  unsilence: (id: string, rule: string) =>
    ok(client.DELETE("/api/dashboards/{dashboard_id}/alerts/{rule_id}/silence", { params: { path: rulePath(id, rule) } })),
  test: (id: string, rule: string) =>
    ok(client.POST("/api/dashboards/{dashboard_id}/alerts/{rule_id}/test", { params: { path: rulePath(id, rule) } })),
};

/** A rule in words: "/i1/battery is below 20 for 60 s". */
export function describe(rule: Pick<AlertRulePublic, "source" | "condition" | "threshold" | "for_s" | "no_data_s">): string {
  const label = CONDITIONS.find((c) => c.value === rule.condition)?.label ?? rule.condition;
  let text = `${rule.source} ${label}`;
  if (rule.condition === "no_data") text += ` ${rule.no_data_s ?? 0} s`;
  else if (rule.condition !== "changed") text += ` ${JSON.stringify(rule.threshold)}`;
  if (rule.for_s > 0) text += ` for ${rule.for_s} s`;
  return text;
}

/** The builder's alert rules, loaded once and kept current by `onLive`. */
export function useAlerts(dashboardId: string) {
  const rules = ref<AlertRulePublic[]>([]);
  const loaded = ref(false);
  const firing = computed(() => new Set(rules.value.filter((r) => r.state === "firing").map((r) => r.source)));

  async function load(): Promise<void> {
    rules.value = await alertsApi.list(dashboardId);
    loaded.value = true;
  }

  /** An ALERT message of the live room: a rule changed state. */
  function onLive(m: LiveAlert): void {
    const rule = rules.value.find((r) => r.id === m.rule);
    if (rule) rule.state = m.state;
    else void load();
  }

  function put(rule: AlertRulePublic): void {
    const index = rules.value.findIndex((r) => r.id === rule.id);
    if (index < 0) rules.value.push(rule);
    else rules.value.splice(index, 1, rule);
  }

  return { rules, loaded, firing, load, onLive, put };
}

export type Alerts = ReturnType<typeof useAlerts>;

const FIRING: InjectionKey<Ref<Set<string>>> = Symbol("firing alert sources");

/** The page gives its widget cells the sources of its firing rules. */
export function provideFiring(firing: Ref<Set<string>>): void {
  provide(FIRING, firing);
}

/** The sources of firing rules (empty where no page provides them: public views). */
export function useFiring(): Ref<Set<string>> | null {
  return inject(FIRING, null);
}
