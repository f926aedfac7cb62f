// The module's flat file list (GET /api/modules/{id}/files) as a tree for the
// file panel: folders first, then files, each sorted by name.
import type { FileEntry } from "./api";

export interface TreeNode {
  name: string;
  path: string;
  folder: boolean;
  size: number;
  children: TreeNode[];
}

export function buildTree(entries: FileEntry[]): TreeNode[] {
  const root: TreeNode = { name: "", path: "", folder: true, size: 0, children: [] };
  const folders = new Map<string, TreeNode>([["", root]]);

  function folder(path: string): TreeNode {
    const found = folders.get(path);
    if (found) return found;
    const cut = path.lastIndexOf("/");
    const parent = folder(cut < 0 ? "" : path.slice(0, cut));
    const node: TreeNode = { name: path.slice(cut + 1), path, folder: true, size: 0, children: [] };
    parent.children.push(node);
    folders.set(path, node);
    return node;
  }

  for (const entry of entries) {
    if (entry.is_folder) {
      folder(entry.path);
      continue;
    }
    const cut = entry.path.lastIndexOf("/");
    const parent = folder(cut < 0 ? "" : entry.path.slice(0, cut));
    parent.children.push({
      name: entry.path.slice(cut + 1),
      path: entry.path,
      folder: false,
      size: entry.size,
      children: [],
    });
  }
  const sort = (nodes: TreeNode[]): TreeNode[] => {
    nodes.sort((a, b) => Number(b.folder) - Number(a.folder) || a.name.localeCompare(b.name));
    for (const n of nodes) sort(n.children);
    return nodes;
  };
  return sort(root.children);
}

/** `path` with its folder `from` (or the file itself) moved to `to`; null when unaffected. */
export function movedPath(path: string, from: string, to: string): string | null {
  if (path === from) return to;
  if (path.startsWith(`${from}/`)) return to + path.slice(from.length);
  return null;
}

/** The folder part of a path ("" at the top). */
export function folderOf(path: string): string {
  const cut = path.lastIndexOf("/");
  return cut < 0 ? "" : path.slice(0, cut);
}
