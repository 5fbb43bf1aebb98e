// The TinT hyperparameters as command-line flags, parsed once for every command that builds a TinTConfig
// (dynamic-eval, compare, params). Defaults are the paper's (TinTConfig's).
import LanguageModel
import OPT
import ModelZoo
import TinT

/// The flags that set a `TinTConfig` field.
enum TinTOptions {
    /// Options that take a value.
    static let valued: Set<String> = [
        "--rows-per-prefix", "--prefixes", "--sim-heads", "--lr", "--layers", "--steps", "--ln-backward",
        "--act-backward", "--attn-backward", "--gates", "--fd-scale", "--gate-scale", "--ln-update",
    ]
    /// Options without a value.
    static let flags: Set<String> = [
        "--reuse-forward", "--no-reuse-forward", "--reuse-backward", "--no-reuse-backward", "--reference-compatible",
        "--unchecked-options",
    ]

    /// The help lines of the TinT options.
    static let help = """
        TinT options (defaults: the paper's; S and H_sim: 3 and 12 where they satisfy every rule for the model, else
        the smallest valid S ≥ 3 and the valid H_sim nearest 12, said on stderr and in the JSON). The construction's rules are checked when the tint method runs (approx and
        exact do not depend on S, K or H_sim); a configuration that breaks a rule exits with status 1 naming it.
          --rows-per-prefix S   weight rows stacked per prefix token (default 3 if valid; S ≥ 3, S divides D_aux)
          --prefixes K          number of prefix tokens; must equal D_aux/S (rule prefixCount), default D_aux/S
          --sim-heads H         H_sim, heads of the simulator's softmax/MLP/norm layers (default 12 if valid)
          --lr η                inner SGD learning rate on the SUMMED train-target cross-entropy (default 1e-4)
          --layers N_SIM        top aux layers updated (default: all)
          --steps N             inner SGD steps (default 1)
          --reuse-forward       reuse the first Forward modules for the final forward (default; --no-reuse-forward)
          --reuse-backward      reuse step 1's Backward modules in later steps (default off; --no-reuse-backward)
          --reference-compatible  reproduce the reference code's quirks (fc2 bias at (ffn/D_aux)·η, unmasked
                                last position)
          --ln-backward first-order|exact      layer-norm backward (default first-order)
          --act-backward finite-difference|exact  activation backward (default finite-difference)
          --fd-scale N          N of the first-order / finite-difference backward (default 1000; accurate
                                range 100…3000, Docs/TINT.md §4)
          --gates tanh|hard     gate nonlinearity (default tanh)
          --gate-scale g        g of tanh(g·z) gates (default 10; accurate range ≥ 9.1)
          --unchecked-options   accept --fd-scale / --gate-scale outside their accurate ranges (with a
                                warning on stderr); the results then need not match approximate GD
          --ln-update bias-only|full  layer-norm Descent: β only (default) or β and the dense γ matrix
          --attn-backward value-only  attention backward (the only rule: stop-gradient through the scores)
        """

    /// The configuration for `graph` (the aux model) with `layers` decoder layers, from the flags in `o`. S and H_sim
    /// take ``TinTDefaults``' choice unless given (S = 3 and H_sim = 12 where valid, else the nearest valid choice,
    /// said in the returned note).
    ///
    /// - Throws: `ArgumentError` for a malformed or contradictory flag (exit status 2); `TinTError.ruleViolation`
    ///   naming the rule a well-formed configuration breaks (exit status 1).
    ///
    /// - Parameter checkRules: check the construction's rules (``TinTDefaults/check(_:_:)``, `--prefixes`); the
    ///   oracles (`approx`, `exact`) do not depend on S, K or H_sim, so a run of only those skips the check (and
    ///   `graph` may be nil).
    static func config(_ o: ParsedOptions, graph: AuxGraph?, layers auxLayers: Int, checkRules: Bool = true) throws -> TinTChoice {
        var c = TinTConfig()
        let rows = try o.int("--rows-per-prefix", in: 1...Int.max)
        let heads = try o.int("--sim-heads", in: 1...Int.max)
        c.learningRate = try o.double("--lr", in: -1e6...1e6, default: c.learningRate)!
        c.simulatedLayers = try o.int("--layers", in: 0...auxLayers)
        c.steps = try o.int("--steps", in: 0...1_000_000, default: c.steps)!
        c.reuseForward = try switchFlag(o, "--reuse-forward", "--no-reuse-forward", default: c.reuseForward)
        c.reuseBackward = try switchFlag(o, "--reuse-backward", "--no-reuse-backward", default: c.reuseBackward)
        c.referenceCompatible = o.has("--reference-compatible")

        let fdScale = try o.double("--fd-scale", in: Double.leastNonzeroMagnitude...1e12)
        let lnBackward = try choice(o, "--ln-backward", ["first-order", "exact"], default: "first-order")
        let actBackward = try choice(o, "--act-backward", ["finite-difference", "exact"], default: "finite-difference")
        if fdScale != nil && lnBackward == "exact" && actBackward == "exact" {
            throw ArgumentError("--fd-scale applies only with --ln-backward first-order or --act-backward finite-difference")
        }
        let n = fdScale ?? 1000
        c.layerNormBackward = lnBackward == "exact" ? .exact : .firstOrder(n)
        c.activationBackward = actBackward == "exact" ? .exact : .finiteDifference(n)

        let gateScale = try o.double("--gate-scale", in: Double.leastNonzeroMagnitude...1e12)
        if try choice(o, "--gates", ["tanh", "hard"], default: "tanh") == "hard" {
            if gateScale != nil { throw ArgumentError("--gate-scale applies only with --gates tanh") }
            c.gates = .hard
        } else {
            c.gates = .tanh(gateScale ?? 10)
        }
        c.layerNormUpdate = try choice(o, "--ln-update", ["bias-only", "full"], default: "bias-only") == "full"
            ? .full : .biasOnly
        _ = try choice(o, "--attn-backward", ["value-only"], default: "value-only")
        c.attentionBackward = .valueOnly

        // Values outside the accurate ranges give finite garbage from the simulator: refused unless the user asks
        // for them (only where the simulator runs; the oracles use neither gates nor finite differences).
        let inaccurate = checkRules ? c.inaccurateOptions : []
        if !inaccurate.isEmpty {
            if o.has("--unchecked-options") {
                for line in inaccurate { Console.note("warning: \(line); the TinT results need not match approximate GD") }
            } else {
                throw ArgumentError(inaccurate.map { "the " + $0 }.joined(separator: "; ")
                                    + " (pass --unchecked-options to use it anyway)")
            }
        }
        guard let graph else {
            c.rowsPerPrefix = rows ?? c.rowsPerPrefix
            c.simHeads = heads ?? c.simHeads
            return TinTChoice(config: c, note: nil)
        }
        let chosen: TinTDefaults
        if checkRules {
            chosen = try TinTDefaults(graph: graph, base: c, rowsPerPrefix: rows, simHeads: heads)
        } else {
            // The oracles do not depend on S or H_sim: any valid choice, or the given/paper's values unchecked.
            var fallback = c
            fallback.rowsPerPrefix = rows ?? 3
            fallback.simHeads = heads ?? 12
            chosen = (try? TinTDefaults(graph: graph, base: c, rowsPerPrefix: rows, simHeads: heads))
                ?? TinTDefaults(config: fallback, note: nil)
        }
        let spec = SimulatorSpec(graph: graph, config: chosen.config)
        if let k = try o.int("--prefixes", in: 1...Int.max), k != spec.prefixCount, checkRules {
            throw TinTError.ruleViolation(rule: "prefixCount", statement: "--prefixes K must equal D_aux/S",
                                          values: "K=\(k), D_aux=\(spec.auxWidth), S=\(spec.rowsPerPrefix), D_aux/S=\(spec.prefixCount)")
        }
        return TinTChoice(config: chosen.config, note: chosen.note)
    }

    /// A boolean with an on and an off flag (giving both is an error).
    static func switchFlag(_ o: ParsedOptions, _ on: String, _ off: String, default value: Bool) throws -> Bool {
        switch (o.has(on), o.has(off)) {
        case (true, true): throw ArgumentError("give either \(on) or \(off), not both")
        case (true, false): return true
        case (false, true): return false
        case (false, false): return value
        }
    }

    /// One of a fixed set of words.
    static func choice(_ o: ParsedOptions, _ name: String, _ words: [String], default value: String) throws -> String {
        guard let v = o[name] else { return value }
        guard words.contains(v) else { throw ArgumentError("\(name) must be one of \(words.joined(separator: ", ")), got '\(v)'") }
        return v
    }

    /// A one-line summary of the configuration (for text output); K and D_sim need the aux width.
    static func summary(_ c: TinTConfig, auxWidth: Int) -> String {
        let spec = SimulatorSpec(config: c, auxWidth: auxWidth, auxHeads: 1, auxMaxPositions: 1)
        let ln: String, act: String, gates: String
        switch c.layerNormBackward { case .firstOrder(let n): ln = "first-order(N=\(n))"; case .exact: ln = "exact" }
        switch c.activationBackward { case .finiteDifference(let n): act = "finite-difference(N=\(n))"; case .exact: act = "exact" }
        switch c.gates { case .tanh(let g): gates = "tanh(g=\(g))"; case .hard: gates = "hard" }
        return "S=\(c.rowsPerPrefix) K=\(spec.prefixCount) H_sim=\(c.simHeads) D_sim=\(spec.simWidth) η=\(c.learningRate) "
            + "n_sim=\(c.simulatedLayers.map(String.init) ?? "all") steps=\(c.steps) reuse-forward=\(c.reuseForward) "
            + "reuse-backward=\(c.reuseBackward) reference-compatible=\(c.referenceCompatible) ln-backward=\(ln) "
            + "act-backward=\(act) gates=\(gates) ln-update=\(c.layerNormUpdate == .full ? "full" : "bias-only")"
    }
}

/// A configuration and why its S and H_sim differ from the paper's (nil when they do not): what commands print
/// (the note on stderr) and put in their JSON (`config`, `config_note`).
struct TinTChoice {
    var config: TinTConfig
    var note: String?

    /// Prints the note on stderr (unless quiet).
    func announce() { if let note { Progress.note("note: " + note) } }
}
