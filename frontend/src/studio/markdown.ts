// Markdown rendered safely: markdown-it with raw HTML off, then DOMPurify over the
// result (links open elsewhere, nothing runs).
import DOMPurify from "dompurify";
import MarkdownIt from "markdown-it";

const md = new MarkdownIt({ html: false, linkify: true, typographer: false });

export function renderMarkdown(text: string): string {
  return DOMPurify.sanitize(md.render(text), { USE_PROFILES: { html: true } });
}
