// Light and dark theme: CSS variables in styles.css keyed on <html data-theme>.
// The choice "system" follows prefers-color-scheme; an explicit choice is kept in
// localStorage.
import { ref, watchEffect } from "vue";

export type ThemeChoice = "system" | "light" | "dark";

const KEY = "visualbox.theme";
const media = window.matchMedia("(prefers-color-scheme: dark)");

function stored(): ThemeChoice {
  try {
    const value = localStorage.getItem(KEY);
    return value === "light" || value === "dark" ? value : "system";
  } catch {
    return "system";
  }
}

export const themeChoice = ref<ThemeChoice>(stored());
const systemDark = ref(media.matches);
media.addEventListener("change", (event) => {
  systemDark.value = event.matches;
});

/** The theme in effect now. */
export function effectiveTheme(): "light" | "dark" {
  if (themeChoice.value === "system") return systemDark.value ? "dark" : "light";
  return themeChoice.value;
}

export function setTheme(choice: ThemeChoice): void {
  themeChoice.value = choice;
  try {
    if (choice === "system") localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, choice);
  } catch {
    // Storage refused (private mode): the choice lasts for this visit.
  }
}

/** Switch between light and dark (leaving "system"). */
export function toggleTheme(): void {
  setTheme(effectiveTheme() === "dark" ? "light" : "dark");
}

/** Apply the theme to <html> now and whenever it changes. */
export function installTheme(): void {
  watchEffect(() => {
    document.documentElement.dataset.theme = effectiveTheme();
  });
}
