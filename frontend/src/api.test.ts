import { afterEach, describe, expect, it, vi } from "vitest";

import { ApiError, client, labelOf, messageOf, ok, parseError, send, setUnauthenticatedHandler } from "./api";

function answer(status: number, body?: unknown, init: ResponseInit = {}): Response {
  const text = body === undefined ? null : typeof body === "string" ? body : JSON.stringify(body);
  return new Response(text, { status, ...init });
}

function serve(response: Response | Error) {
  const fetch = vi.fn(async (_request: Request): Promise<Response> => {
    if (response instanceof Error) throw response;
    return response;
  });
  vi.stubGlobal("fetch", fetch);
  return fetch;
}

afterEach(() => {
  vi.unstubAllGlobals();
  setUnauthenticatedHandler(null);
});

/** The request the client sent (the tests run in Node: URLs are absolute). */
function sent(fetch: ReturnType<typeof serve>, index = 0): Request {
  const request = fetch.mock.calls[index]?.[0];
  if (!request) throw new Error("no request was sent");
  return request;
}

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
      { field: "email", label: "Email address", reason: "is already registered" },
      { field: "widgets[0].w", label: "Width (widget 1)", reason: "must be at least 1" },
    ]);
    expect(error.fieldReason("email")).toBe("is already registered");
    expect(error.fieldReason("name")).toBeUndefined();
    expect(error.fieldMap()).toEqual({ email: "is already registered", "widgets[0].w": "must be at least 1" });
  });

  it("tolerates missing or malformed parts", () => {
    const error = parseError(409, { error: { message: "Stale.", fields: [{ field: 3 }, "junk", null] } });
    expect(error.code).toBe("error");
    expect(error.fields).toEqual([{ field: "3", label: "3", reason: "" }]);
    expect(parseError(404, { error: { code: "not_found", message: "Gone." } }).fields).toEqual([]);
  });

  it("falls back to the status for bodies of another shape", () => {
    expect(parseError(502, "<html>Bad gateway</html>", "Bad Gateway").message).toBe("Bad Gateway");
    expect(parseError(502, undefined).code).toBe("internal");
    expect(parseError(418, { detail: "teapot" }).message).toBe("The server answered 418.");
    expect(parseError(418, null).code).toBe("error");
  });
});

describe("labelOf", () => {
  it("names a field in words, never by its path", () => {
    expect(labelOf("display_name")).toBe("Display name");
    expect(labelOf("integrations[0].config.speed")).toBe("Speed (integration 1)");
    expect(labelOf("widgets[2].w")).toBe("Width (widget 3)");
    expect(labelOf("tags[1]")).toBe("Tag 2");
    for (const path of ["a[0].b.c", "integrations[3]", "x.y_z"]) expect(labelOf(path)).not.toMatch(/[[\].]/);
  });

  it("prefers the server's label", () => {
    const error = parseError(422, {
      error: { code: "invalid", message: "Bad.", fields: [{ field: "a.b", label: "Speed (Sim)", reason: "x" }] },
    });
    expect(error.fields[0]?.label).toBe("Speed (Sim)");
  });
});

describe("client", () => {
  it("sends JSON with the session cookie and decodes the answer", async () => {
    const fetch = serve(answer(201, { id: "d1", name: "Plant" }));
    const made = await ok(client.POST("/api/dashboards", { body: { name: "Plant" } }));
    expect(made).toEqual({ id: "d1", name: "Plant" });
    const request = sent(fetch);
    expect(new URL(request.url).pathname).toBe("/api/dashboards");
    expect(request.method).toBe("POST");
    expect(request.credentials).toBe("same-origin");
    expect(await request.text()).toBe('{"name":"Plant"}');
    expect(request.headers.get("Content-Type")).toBe("application/json");
    expect(request.headers.get("Accept")).toBe("application/json");
  });

  it("fills in path parameters, encoded", async () => {
    const fetch = serve(answer(200, {}));
    await ok(client.GET("/api/public/dashboards/{token}", { params: { path: { token: "a/b c" } } }));
    expect(new URL(sent(fetch).url).pathname).toBe("/api/public/dashboards/a%2Fb%20c");
  });

  it("builds the query without empty values", async () => {
    const fetch = serve(answer(200, { items: [], total: 0, page: 2, per_page: 20 }));
    await ok(
      client.GET("/api/registry/search", { params: { query: { q: "gauge meter", page: 2, kind: undefined, tag: "" } } }),
    );
    const url = new URL(sent(fetch).url);
    expect(`${url.pathname}${url.search}`).toBe("/api/registry/search?q=gauge+meter&page=2");
  });

  it("answers undefined for 204 and empty bodies", async () => {
    serve(answer(204));
    await expect(
      ok(client.DELETE("/api/account/tokens/{token_id}", { params: { path: { token_id: "t1" } } })),
    ).resolves.toBeUndefined();
  });

  it("throws ApiError with the server's fields", async () => {
    serve(
      answer(409, {
        error: { code: "conflict", message: "Changed meanwhile.", fields: [{ field: "revision", reason: "is 4 now" }] },
      }),
    );
    const error = await ok(
      client.PATCH("/api/dashboards/{dashboard_id}", { params: { path: { dashboard_id: "d1" } }, body: { revision: 3 } }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(409);
    expect((error as ApiError).fieldReason("revision")).toBe("is 4 now");
  });

  it("throws ApiError for a non-JSON failure", async () => {
    serve(answer(500, "Internal Server Error", { statusText: "Internal Server Error" }));
    const error = (await ok(client.GET("/api/health")).catch((e: unknown) => e)) as ApiError;
    expect(error.status).toBe(500);
    expect(error.code).toBe("internal");
    expect(messageOf(error)).toBe("Internal Server Error");
  });

  it("reports an unreachable server as a network error", async () => {
    serve(new TypeError("Failed to fetch"));
    const error = (await ok(client.GET("/api/account")).catch((e: unknown) => e)) as ApiError;
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(0);
    expect(error.code).toBe("network");
  });

  it("lets an abort through unchanged", async () => {
    serve(new DOMException("The operation was aborted.", "AbortError"));
    const error = await ok(client.GET("/api/account")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DOMException);
  });

  it("tells the app when a session ended, except while signing in", async () => {
    const ended = vi.fn();
    setUnauthenticatedHandler(ended);
    const refused = { error: { code: "unauthenticated", message: "Sign in first.", fields: [] } };
    serve(answer(401, refused));
    await ok(client.GET("/api/account")).catch(() => undefined);
    expect(ended).toHaveBeenCalledWith("/api/account");
    serve(answer(401, refused));
    await ok(client.POST("/api/auth/signin", { body: { email: "a@b.c", password: "x" } })).catch(() => undefined);
    expect(ended).toHaveBeenCalledTimes(1);
  });
});

describe("send", () => {
  it("sends bytes as they are and throws the same errors", async () => {
    const fetch = serve(answer(200, { path: "a b.py", size: 3, sha256: null, is_folder: false }));
    const response = await send("PUT", "/api/modules/m1/files/a%20b.py", {
      body: "abc",
      headers: { "Content-Type": "application/octet-stream" },
    });
    expect(await response.json()).toMatchObject({ path: "a b.py" });
    const request = sent(fetch);
    expect(new URL(request.url).pathname).toBe("/api/modules/m1/files/a%20b.py");
    expect(await request.text()).toBe("abc");
    expect(request.headers.get("Content-Type")).toBe("application/octet-stream");
    serve(answer(404, { error: { code: "not_found", message: "No such file.", fields: [] } }));
    await expect(send("GET", "/api/modules/m1/files/x")).rejects.toThrow("No such file.");
  });
});
