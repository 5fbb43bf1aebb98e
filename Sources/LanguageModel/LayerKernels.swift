import Dispatch
import Tensor

// Raw kernels behind the layer library's differentiable ops (Layers.swift): the residual add, activations and
// gated activations, bias gradients and rotary embeddings. The maths itself is Tensor's, written once there: `gemm` (scalar-generic GEMM), `Tensor.zeros`,
// `unaryRun` (activations and their derivatives), `runMax`/`runExpShiftedSum` (softmax rows) and
// `normBackwardRows` (layer-norm and RMS-norm backward).

// MARK: - Threading

/// Elements per parallel chunk for memory-bound loops (about 50 µs of work).
let lmElementGrain = 1 << 16

// MARK: - Tensor plumbing

extension Tensor {
    /// Read access to the elements in row-major order (a copy first when not contiguous).
    func withPointer<R>(_ body: (UnsafePointer<Scalar>) throws -> R) rethrows -> R {
        try withUnsafeBufferPointer { try body($0.baseAddress!) }
    }
}

// MARK: - Elementwise

/// c = a + b over `n` contiguous elements.
@_specialize(where S == Float)
@_specialize(where S == Double)
@inline(never)
func lmAdd<S: TensorScalar>(_ a: UnsafePointer<S>, _ b: UnsafePointer<S>, _ c: UnsafeMutablePointer<S>, _ n: Int) {
    let pa = UncheckedSendable(a), pb = UncheckedSendable(b), pc = UncheckedSendable(c)
    parallelChunks(count: n, grain: lmElementGrain * 4) { r in
        let a = pa.value, b = pb.value, c = pc.value
        for i in r { c[i] = a[i] + b[i] }
    }
}

/// The elementwise activations of the layer library.
public enum Activation: String, Sendable, CaseIterable, Codable {
    /// max(0, x).
    case relu
    /// The exact (erf) GELU.
    case gelu
    /// The tanh approximation of GELU (`gelu_new`, `gelu_pytorch_tanh`).
    case geluTanh
    /// x · sigmoid(x) (`silu`, `swish`).
    case silu

    /// The activation `transformers` calls `name` (`hidden_act`, `activation_function`), or nil.
    public init?(huggingFaceName name: String) {
        switch name {
        case "relu": self = .relu
        case "gelu": self = .gelu
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": self = .geluTanh
        case "silu", "swish": self = .silu
        default: return nil
        }
    }

    /// The names ``init(huggingFaceName:)`` accepts.
    public static let huggingFaceNames = ["relu", "gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "silu", "swish"]
}

extension Activation {
    /// The Tensor kernel that computes the activation (SIMD for Float, stable scalar forms for Double).
    package var forwardOp: UnaryOp {
        switch self {
        case .relu: return .relu
        case .gelu: return .gelu
        case .geluTanh: return .geluTanh
        case .silu: return .silu
        }
    }

    /// The Tensor kernel that computes the activation's derivative.
    package var derivativeOp: UnaryOp {
        switch self {
        case .relu: return .relu  // unused: ReLU's backward masks by the saved output
        case .gelu: return .geluDerivative
        case .geluTanh: return .geluTanhDerivative
        case .silu: return .siluDerivative
        }
    }
}

/// y = act(x) in place over `n` contiguous elements, with Tensor's elementwise kernels (`unaryRun`).
@_specialize(where S == Float)
@_specialize(where S == Double)
@inline(never)
func lmActivate<S: TensorScalar>(_ kind: Activation, _ x: UnsafeMutablePointer<S>, _ n: Int) {
    let px = UncheckedSendable(x), op = kind.forwardOp
    parallelChunks(count: n, grain: kind == .relu ? lmElementGrain * 4 : lmElementGrain / 4) { r in
        let p = px.value + r.lowerBound
        unaryRun(op, UnsafePointer(p), p, r.count)
    }
}

/// g ← g ⊙ act'(·) in place. For ReLU `saved` is the output (act' = [y > 0]); otherwise the pre-activation.
@_specialize(where S == Float)
@_specialize(where S == Double)
@inline(never)
func lmActivationBackward<S: TensorScalar>(_ kind: Activation, saved: UnsafePointer<S>,
                                            _ g: UnsafeMutablePointer<S>, _ n: Int) {
    let ps = UncheckedSendable(saved), pg = UncheckedSendable(g), op = kind.derivativeOp
    parallelChunks(count: n, grain: kind == .relu ? lmElementGrain * 4 : lmElementGrain / 4) { r in
        let s = ps.value, g = pg.value
        if kind == .relu {
            for i in r { g[i] = s[i] > 0 ? g[i] : 0 }
        } else {
            unaryRunScaling(op, s + r.lowerBound, g + r.lowerBound, r.count)
        }
    }
}

// MARK: - Gated activation (GLU)

/// out = act(gate) ⊙ up over `n` contiguous elements (the SwiGLU product when act is SiLU), with Tensor's
/// activation kernels (`unaryRun`).
@_specialize(where S == Float)
@_specialize(where S == Double)
@inline(never)
func lmGatedActivation<S: TensorScalar>(_ kind: Activation, gate: UnsafePointer<S>, up: UnsafePointer<S>,
                                         _ out: UnsafeMutablePointer<S>, _ n: Int) {
    let args = UncheckedSendable((gate, up, out)), op = kind.forwardOp
    parallelChunks(count: n, grain: lmElementGrain / 4) { r in
        let (a, b, o) = args.value
        let lo = r.lowerBound
        unaryRun(op, a + lo, o + lo, r.count)
        for i in r { o[i] *= b[i] }
    }
}

/// The gradients of out = act(gate) ⊙ up: dGate = g ⊙ up ⊙ act'(gate), dUp = g ⊙ act(gate), with Tensor's
/// activation and derivative kernels; nil skips one.
@_specialize(where S == Float)
@_specialize(where S == Double)
@inline(never)
func lmGatedActivationBackward<S: TensorScalar>(_ kind: Activation, gate: UnsafePointer<S>, up: UnsafePointer<S>,
                                                 g: UnsafePointer<S>, dGate: UnsafeMutablePointer<S>?,
                                                 dUp: UnsafeMutablePointer<S>?, _ n: Int) {
    let args = UncheckedSendable((gate, up, g, dGate, dUp))
    parallelChunks(count: n, grain: lmElementGrain / 4) { r in
        let (a, b, g, da, db) = args.value
        let lo = r.lowerBound
        if let db {
            unaryRun(kind.forwardOp, a + lo, db + lo, r.count)
            for i in r { db[i] *= g[i] }
        }
        if let da {
            if kind == .relu {
                for i in r { da[i] = a[i] > 0 ? g[i] * b[i] : 0 }
            } else {
                for i in r { da[i] = g[i] * b[i] }
                unaryRunScaling(kind.derivativeOp, a + lo, da + lo, r.count)
            }
        }
    }
}

// MARK: - Column sums (bias gradients)

/// out[j] (+)= Σ_rows g[r·cols + j]. Partial sums per row chunk, combined in chunk order (deterministic).
@_specialize(where S == Float)
@_specialize(where S == Double)
@inline(never)
func lmColumnSums<S: TensorScalar>(_ g: UnsafePointer<S>, rows: Int, cols: Int, _ out: UnsafeMutablePointer<S>) {
    let chunkRows = Swift.max(1, lmElementGrain / Swift.max(cols, 1))
    let chunks = Swift.max(1, (rows + chunkRows - 1) / chunkRows)
    var partial = [S](repeating: 0, count: chunks * cols)
    partial.withUnsafeMutableBufferPointer { pp in
        let p = UncheckedSendable(pp.baseAddress!), pg = UncheckedSendable(g)
        parallelChunks(count: chunks, grain: 1) { cs in
            for c in cs {
                let acc = p.value + c &* cols
                for r in (c &* chunkRows)..<Swift.min(rows, (c &+ 1) &* chunkRows) {
                    let row = pg.value + r &* cols
                    for j in 0..<cols { acc[j] += row[j] }
                }
            }
        }
        for j in 0..<cols { out[j] = 0 }
        for c in 0..<chunks { for j in 0..<cols { out[j] += pp[c &* cols &+ j] } }
    }
}

// MARK: - Rotary position embeddings

/// Rotates each head's (i, i + half) feature pairs of `rows` rows of `heads·2·half` features by the row's
/// angles: out_i = x_i·cos − x_{i+half}·sin, out_{i+half} = x_{i+half}·cos + x_i·sin (`x·cos + rotate_half(x)·sin`).
/// `inverse` rotates by the negated angles (the pullback). `cos`/`sin` are `[rows, half]`.
@_specialize(where S == Float)
@_specialize(where S == Double)
@inline(never)
func lmRotary<S: TensorScalar>(_ x: UnsafePointer<S>, _ out: UnsafeMutablePointer<S>, cos: UnsafePointer<S>,
                                sin: UnsafePointer<S>, rows: Int, heads: Int, half: Int, inverse: Bool) {
    let args = UncheckedSendable((x, out, cos, sin))
    let width = heads &* 2 &* half
    parallelChunks(count: rows, grain: Swift.max(1, lmElementGrain / Swift.max(width, 1))) { r in
        let (x, out, cp, sp) = args.value
        for row in r {
            let c = cp + row &* half, s = sp + row &* half
            for h in 0..<heads {
                let offset = row &* width &+ h &* 2 &* half
                let xr = x + offset, o = out + offset
                if inverse {
                    for i in 0..<half {
                        let a = xr[i], b = xr[i &+ half]
                        o[i] = a * c[i] + b * s[i]
                        o[i &+ half] = b * c[i] - a * s[i]
                    }
                } else {
                    for i in 0..<half {
                        let a = xr[i], b = xr[i &+ half]
                        o[i] = a * c[i] - b * s[i]
                        o[i &+ half] = b * c[i] + a * s[i]
                    }
                }
            }
        }
    }
}
