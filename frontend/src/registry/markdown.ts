// A module's README as safe HTML: markdown-it with raw HTML turned off, then DOMPurify
// (belt and braces: links keep only safe schemes, nothing can run).
import DOMPurify from "dompurify";
import MarkdownIt from "markdown-it";

const markdown = new MarkdownIt({ html: false, linkify: true, typographer: false });

export function renderMarkdown(source: string): string {
  const html = DOMPurify.sanitize(markdown.render(source), { USE_PROFILES: { html: true } });
  // Links in a README leave the app: a new tab, no referrer, no opener.
  return html.replace(/<a /g, '<a target="_blank" rel="noopener noreferrer nofollow" ');
}

/** The first paragraph of a README, as plain text (for cards). */
export function readmeIntro(source: string, max = 160): string {
  const paragraph = source
    .split(/\n\s*\n/)
    .map((p) => p.trim())
    .find((p) => p && !p.startsWith("#"));
  const text = (paragraph ?? "").replace(/[`*_>#[\]]/g, "").replace(/\s+/g, " ");
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
