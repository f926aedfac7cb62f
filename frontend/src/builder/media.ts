// Whether a CSS media query matches, kept up to date.
import { onBeforeUnmount, ref } from "vue";

export function useMedia(query: string) {
  const media = window.matchMedia(query);
  const matches = ref(media.matches);
  const update = (event: MediaQueryListEvent) => {
    matches.value = event.matches;
  };
  media.addEventListener("change", update);
  onBeforeUnmount(() => media.removeEventListener("change", update));
  return matches;
}
