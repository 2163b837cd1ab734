// URL scheme → factory, for the broker and the result backend registries: built-in implementations
// load lazily (importing Celeriac loads no client library), and third parties register their own.
import { ConfigError } from "./errors.ts";
import { schemeOf } from "./url.ts";

/** A URL scheme as registries key it: lower case, with its colon ("redis:"). */
export function normalizeScheme(scheme: string): string {
  const match = typeof scheme === "string" ? /^([a-z][a-z0-9+.-]*):?(?:\/\/)?$/i.exec(scheme) : null;
  if (!match?.[1]) throw new ConfigError(`${JSON.stringify(scheme)} is not a URL scheme; expected a name such as "mytransport" (letters, digits, "+", "-", ".")`);
  return `${match[1].toLowerCase()}:`;
}

/** Scheme → factory for one kind of plug-in (`what`), set by the config key `setting`. */
export class SchemeRegistry<F extends (...args: never[]) => unknown> {
  private readonly registered = new Map<string, F>();

  constructor(
    private readonly what: string,
    private readonly setting: string,
    private readonly builtIn: Readonly<Record<string, () => Promise<F>>>,
  ) {}

  /** Adds `factory` for `scheme`; returns a function that removes it. A taken scheme is a ConfigError. */
  register(scheme: string, factory: F): () => void {
    const key = normalizeScheme(scheme);
    if (typeof factory !== "function") throw new ConfigError(`register ${this.what} "${key}//": the factory must be a function (url, options) => ${this.what}`);
    if (Object.hasOwn(this.builtIn, key) || this.registered.has(key)) {
      throw new ConfigError(`register ${this.what} "${key}//": the scheme is taken (${Object.hasOwn(this.builtIn, key) ? "built in" : "registered earlier"}); choose another name`);
    }
    this.registered.set(key, factory);
    return () => {
      if (this.registered.get(key) === factory) this.registered.delete(key);
    };
  }

  /** Every scheme with a factory, built-in first, e.g. "redis:". */
  schemes(): string[] {
    return [...Object.keys(this.builtIn), ...this.registered.keys()];
  }

  /** The factory for `url`'s scheme; a ConfigError naming the known schemes when there is none. */
  async factoryFor(url: string): Promise<F> {
    const scheme = schemeOf(url);
    const factory = this.registered.get(scheme) ?? (await this.builtIn[scheme]?.());
    if (!factory) {
      throw new ConfigError(`${this.setting}: no ${this.what} for "${scheme}//" URLs; expected one of ${this.schemes().map((s) => `${s}//`).join(", ")} (or register one: docs/plugins.md)`);
    }
    return factory;
  }
}
