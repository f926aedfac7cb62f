// `#rrggbb` / `#rrggbbaa` colours as a colour input and an opacity (0–100 %).

export interface Rgba {
  rgb: string;
  opacity: number;
}

export function splitColour(value: string | null, fallback = "#ffffff"): Rgba {
  if (!value || !/^#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$/.test(value)) return { rgb: fallback, opacity: 100 };
  const alpha = value.length === 9 ? parseInt(value.slice(7), 16) : 255;
  return { rgb: value.slice(0, 7).toLowerCase(), opacity: Math.round((alpha / 255) * 100) };
}

export function joinColour({ rgb, opacity }: Rgba): string {
  const clamped = Math.min(100, Math.max(0, Math.round(opacity)));
  if (clamped === 100) return rgb.toLowerCase();
  const alpha = Math.round((clamped / 100) * 255).toString(16).padStart(2, "0");
  return `${rgb.toLowerCase()}${alpha}`;
}
