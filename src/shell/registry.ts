import type { CommandSpec, ShellService } from "./command.js";

/** Values of a usage placeholder (`pid` → live pids) for completion. */
export type CompletionValues = (placeholder: string, ctx: { home: string; env: NodeJS.ProcessEnv }) => Promise<string[]>;

export interface Resolved {
  spec: CommandSpec;
  args: string[];
}

/**
 * The command registry: every surface (bus, trace, fleet, …) registers its commands
 * here, and both the shell and the CLI dispatch through it. Neither knows any command
 * by name; adding a subcommand touches only its own module and the list that registers it.
 */
export class CommandRegistry {
  private readonly specs: CommandSpec[] = [];
  private readonly services: ShellService[] = [];
  private values: CompletionValues = async () => [];

  register(spec: CommandSpec): this {
    const key = spec.path.join(" ");
    if (this.specs.some((s) => s.path.join(" ") === key)) {
      throw new Error(`command already registered: ${key}`);
    }
    this.specs.push(spec);
    return this;
  }

  addShellService(service: ShellService): this {
    this.services.push(service);
    return this;
  }

  /** Where the shell's Tab completion gets argument values (`pid`, `id`) from. */
  setCompletionValues(values: CompletionValues): this {
    this.values = values;
    return this;
  }

  completionValues(placeholder: string, ctx: { home: string; env: NodeJS.ProcessEnv }): Promise<string[]> {
    return this.values(placeholder, ctx);
  }

  shellServices(): readonly ShellService[] {
    return this.services;
  }

  list(): readonly CommandSpec[] {
    return [...this.specs].sort((a, b) => a.path.join(" ").localeCompare(b.path.join(" ")));
  }

  /** Longest registered path that prefixes `words`. */
  resolve(words: readonly string[]): Resolved | undefined {
    let best: CommandSpec | undefined;
    for (const spec of this.specs) {
      if (spec.path.length > words.length) continue;
      if (!spec.path.every((w, i) => words[i] === w)) continue;
      if (!best || spec.path.length > best.path.length) best = spec;
    }
    return best ? { spec: best, args: words.slice(best.path.length) } : undefined;
  }

  /** The words that may follow `prefix` (`["agents"]` → `["bus", "publish", …]`). */
  childrenOf(prefix: readonly string[]): string[] {
    const out = new Set<string>();
    for (const spec of this.specs) {
      if (spec.path.length <= prefix.length) continue;
      if (!prefix.every((w, i) => spec.path[i] === w)) continue;
      out.add(spec.path[prefix.length]!);
    }
    return [...out].sort();
  }
}
