// How a widget's box looks: its own background, the dashboard's radius and shadow.
import type { DashboardSettingsPublic } from "./api";

export function boxStyle(settings: DashboardSettingsPublic, background: string | null): Record<string, string> {
  const { radius, shadow } = settings;
  return {
    background: background ?? "var(--surface)",
    borderRadius: `${radius}px`,
    boxShadow: `0 ${Math.round(shadow.radius / 3)}px ${shadow.radius}px rgb(0 0 0 / ${shadow.opacity}%)`,
  };
}

/** The page behind the grid. */
export function pageStyle(settings: DashboardSettingsPublic): Record<string, string> {
  return settings.background ? { background: settings.background } : {};
}
