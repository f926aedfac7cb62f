// Fork a registry module into a new working copy of the signed-in user and open it
// in the studio. Used by the modules page and the registry module page:
//
//   await forkModule(id)                     // latest version, the parent's name
//   await forkModule(id, { version: "1.0.0", name: "My copy" })
import { messageOf } from "../api";
import { router } from "../router";
import { toast } from "../toast";
import { type Module, modulesApi } from "./api";

/** Fork, say so, and open the copy; resolves with it, or null (the error was shown). */
export async function forkModule(
  id: string,
  options: { version?: string; name?: string } = {},
): Promise<Module | null> {
  try {
    const copy = await modulesApi.fork(id, options);
    toast(`Forked into “${copy.name}”.`, "success");
    await router.push({ name: "studio", params: { id: copy.id } });
    return copy;
  } catch (error) {
    toast(messageOf(error), "error");
    return null;
  }
}
