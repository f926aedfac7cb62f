import { afterEach, describe, expect, it, vi } from "vitest";

import { ApiError, api, messageOf, parseError, request } from "./api";

function answer(status: number, body?: unknown, init: ResponseInit = {}): Response {
  const text = body === undefined ? null : typeof body === "string" ? body : JSON.stringify(body);
  return new Response(text, { status, ...init });
}

function serve(response: Response | Error) {
  const fetch = vi.fn(async (_url: string, _init?: RequestInit): Promise<Response> => {
    if (response instanceof Error) throw response;
    return response;
  });
  vi.stubGlobal("fetch", fetch);
  return fetch;
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("parseError", () => {
  it("reads the server's error shape with its fields", () => {
    const error = parseError(422, {
      error: {
        code: "invalid",
        message: "The request is not valid.",
        fields: [
          { field: "email", reason: "is already registered" },
          { field: "widgets[0].w", reason: "must be at least 1" },
        ],
      },
    });
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(422);
    expect(error.code).toBe("invalid");
    expect(error.message).toBe("The request is not valid.");
    expect(error.fields).toEqual([
      { field: "email", reason: "is already registered" },
      { field: "widgets[0].w", reason: "must be at least 1" },
    ]);
    expect(error.fieldReason("email")).toBe("is already registered");
    expect(error.fieldReason("name")).toBeUndefined();
    expect(error.fieldMap()).toEqual({ email: "is already registered", "widgets[0].w": "must be at least 1" });
  });

  it("tolerates missing or malformed parts", () => {
    const error = parseError(409, { error: { message: "Stale.", fields: [{ field: 3 }, "junk", null] } });
    expect(error.code).toBe("error");
    expect(error.fields).toEqual([{ field: "3", reason: "" }]);
    expect(parseError(404, { error: { code: "not_found", message: "Gone." } }).fields).toEqual([]);
  });

  it("falls back to the status for bodies of another shape", () => {
    expect(parseError(502, "<html>Bad gateway</html>", "Bad Gateway").message).toBe("Bad Gateway");
    expect(parseError(502, undefined).code).toBe("internal");
    expect(parseError(418, { detail: "teapot" }).message).toBe("The server answered 418.");
    expect(parseError(418, null).code).toBe("error");
  });
});

describe("request", () => {
  it("sends JSON with the session cookie and decodes the answer", async () => {
    const fetch = serve(answer(201, { id: "d1", name: "Plant" }));
    const made = await api.post<{ id: string }>("/api/dashboards", { name: "Plant" });
    expect(made).toEqual({ id: "d1", name: "Plant" });
    const [url, init = {}] = fetch.mock.calls[0] ?? [""];
    expect(url).toBe("/api/dashboards");
    expect(init.method).toBe("POST");
    expect(init.credentials).toBe("same-origin");
    expect(init.body).toBe('{"name":"Plant"}');
    expect((init.headers as Record<string, string>)["Content-Type"]).toBe("application/json");
  });

  it("builds the query without empty values", async () => {
    const fetch = serve(answer(200, []));
    await api.get("/api/registry/search", { q: "gauge meter", page: 2, kind: undefined, tag: "" });
    expect(fetch.mock.calls[0]?.[0]).toBe("/api/registry/search?q=gauge+meter&page=2");
  });

  it("answers undefined for 204 and empty bodies", async () => {
    serve(answer(204));
    await expect(api.delete("/api/account/tokens/t1")).resolves.toBeUndefined();
  });

  it("throws ApiError with the server's fields", async () => {
    serve(
      answer(409, {
        error: { code: "conflict", message: "Changed meanwhile.", fields: [{ field: "revision", reason: "is 4 now" }] },
      }),
    );
    const error = await request("PATCH", "/api/dashboards/d1", { body: { revision: 3 } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(409);
    expect((error as ApiError).fieldReason("revision")).toBe("is 4 now");
  });

  it("throws ApiError for a non-JSON failure", async () => {
    serve(answer(500, "Internal Server Error", { statusText: "Internal Server Error" }));
    const error = (await api.get("/api/boom").catch((e: unknown) => e)) as ApiError;
    expect(error.status).toBe(500);
    expect(error.code).toBe("internal");
    expect(messageOf(error)).toBe("Internal Server Error");
  });

  it("reports an unreachable server as a network error", async () => {
    serve(new TypeError("Failed to fetch"));
    const error = (await api.get("/api/account").catch((e: unknown) => e)) as ApiError;
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(0);
    expect(error.code).toBe("network");
  });

  it("lets an abort through unchanged", async () => {
    serve(new DOMException("The operation was aborted.", "AbortError"));
    const error = await api.get("/api/account").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DOMException);
  });
});
