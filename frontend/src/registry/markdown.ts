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
