/// An n-dimensional, strided tensor of `Float` or `Double` with value semantics.
///
/// Views (``reshaped(_:)``, ``permuted(_:)``, ``sliced(axis:_:)``, ``expanded(to:)``) share storage with
/// the tensor they come from; writing to either copies first (copy-on-write). ``contiguous()`` makes a
/// dense row-major copy when the layout needs one. Operations that can fail on bad input throw
/// ``TensorError``.
public struct Tensor<Scalar: TensorScalar>: Sendable {
    @usableFromInline var storage: TensorStorage<Scalar>
    /// The size of each dimension.
    public private(set) var shape: [Int]
    /// The distance, in elements, between neighbours along each dimension (0 for a broadcast dimension).
    public private(set) var strides: [Int]
    /// The position of the first element in the storage.
    public private(set) var offset: Int

    init(storage: TensorStorage<Scalar>, shape: [Int], strides: [Int], offset: Int) {
        self.storage = storage
        self.shape = shape
        self.strides = strides
        self.offset = offset
    }

    /// A contiguous tensor whose elements are not yet written; the caller must fill all of them.
    init(uninitializedShape shape: [Int]) {
        let n = shape.reduce(1, *)
        self.init(storage: TensorStorage(uninitializedCount: n), shape: shape,
                  strides: Tensor.contiguousStrides(shape), offset: 0)
    }

    /// A tensor of `shape` filled with `value` (a memset for zero).
    @_specialize(exported: true, where Scalar == Float)
    @_specialize(exported: true, where Scalar == Double)
    public init(shape: [Int], repeating value: Scalar) throws {
        let n = try checkedCount(shape, op: "Tensor(shape:repeating:)")
        self.init(storage: TensorStorage(repeating: value, count: n), shape: shape,
                  strides: Tensor.contiguousStrides(shape), offset: 0)
    }

    /// A tensor of `shape` holding `scalars` in row-major order.
    public init(shape: [Int], scalars: [Scalar]) throws {
        let n = try checkedCount(shape, op: "Tensor(shape:scalars:)")
        guard n == scalars.count else {
            throw TensorError.invalidShape(op: "Tensor(shape:scalars:)", shape: shape,
                                           reason: "needs \(n) scalars, got \(scalars.count)")
        }
        self.init(uninitializedShape: shape)
        scalars.withUnsafeBufferPointer { storage.base.update(from: $0.baseAddress!, count: n) }
    }

    /// A rank-1 tensor holding `scalars`.
    public init(_ scalars: [Scalar]) {
        self.init(uninitializedShape: [scalars.count])
        scalars.withUnsafeBufferPointer { if let p = $0.baseAddress { storage.base.update(from: p, count: $0.count) } }
    }

    /// A rank-0 tensor holding one scalar.
    public init(scalar: Scalar) {
        self.init(uninitializedShape: [])
        storage.base.initialize(to: scalar)
    }

    /// A tensor of zeros (one allocation and a memset, from any module).
    @_specialize(exported: true, where Scalar == Float)
    @_specialize(exported: true, where Scalar == Double)
    public static func zeros(_ shape: [Int]) throws -> Tensor { try Tensor(shape: shape, repeating: 0) }

    /// A contiguous tensor of `shape`, zero-filled, whose elements `body` then writes in row-major order
    /// (`body` is not called for an empty shape).
    @_specialize(exported: true, where Scalar == Float)
    @_specialize(exported: true, where Scalar == Double)
    public static func zeros(_ shape: [Int], writing body: (UnsafeMutablePointer<Scalar>) throws -> Void) throws -> Tensor {
        let t = try zeros(shape)  // fresh, uniquely owned storage: written in place
        if t.count > 0 { try body(t.storage.base) }
        return t
    }
    /// A contiguous tensor of `shape` whose every element `body` writes (row-major), without zero-filling it
    /// first: for kernels that overwrite their whole output (`body` is not called for an empty shape).
    package static func uninitialized(_ shape: [Int], writing body: (UnsafeMutablePointer<Scalar>) throws -> Void) rethrows -> Tensor {
        let t = Tensor(uninitializedShape: shape)
        if t.count > 0 { try body(t.storage.base) }
        return t
    }
    /// A tensor of ones.
    public static func ones(_ shape: [Int]) throws -> Tensor { try Tensor(shape: shape, repeating: 1) }

    /// `[start, start + step, …]` up to but excluding `end`, as a rank-1 tensor.
    public static func arange(_ start: Scalar, _ end: Scalar, step: Scalar = 1) throws -> Tensor {
        guard step != 0, step.isFinite, start.isFinite, end.isFinite else {
            throw TensorError.invalidArgument(op: "arange", reason: "start, end and step must be finite and step non-zero")
        }
        let n = Swift.max(0, Int(((end - start) / step).rounded(.up)))
        return Tensor((0..<n).map { start + Scalar($0) * step })
    }

    /// The identity matrix of size `n`.
    public static func eye(_ n: Int) throws -> Tensor {
        var t = try zeros([n, n])
        t.withUnsafeMutableBufferPointer { p in for i in 0..<n { p[i * n + i] = 1 } }
        return t
    }

    /// Row-major strides for `shape`.
    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var s = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[i] = s
            s *= Swift.max(shape[i], 1)
        }
        return strides
    }

    /// The number of dimensions.
    public var rank: Int { shape.count }
    /// The number of elements.
    public var count: Int { shape.reduce(1, *) }

    /// Whether the elements are laid out densely in row-major order (size-1 dimensions may have any stride).
    public var isContiguous: Bool {
        var expected = 1
        for i in stride(from: rank - 1, through: 0, by: -1) where shape[i] != 1 {
            if strides[i] != expected { return false }
            expected *= shape[i]
        }
        return true
    }

    /// The tensor itself when contiguous, otherwise a dense row-major copy.
    public func contiguous() -> Tensor {
        if isContiguous { return self }
        var out = Tensor(uninitializedShape: shape)
        copyStrided(from: self, into: &out)
        return out
    }

    /// The elements in row-major order.
    public var scalars: [Scalar] {
        let c = contiguous()
        return Array(UnsafeBufferPointer(start: c.storage.base + c.offset, count: c.count))
    }

    /// The only element of a tensor with one element.
    public func item() throws -> Scalar {
        guard count == 1 else {
            throw TensorError.invalidShape(op: "item", shape: shape, reason: "item() needs exactly one element")
        }
        return storage.base[offset]
    }

    /// Reads one element; throws on a wrong number of indices or an index out of range.
    public func element(at index: [Int]) throws -> Scalar {
        storage.base[try linearIndex(index, op: "element(at:)")]
    }

    /// Writes one element (copying the storage first if it is shared).
    public mutating func setElement(_ value: Scalar, at index: [Int]) throws {
        _ = try linearIndex(index, op: "setElement(_:at:)")
        makeUnique()
        storage.base[try linearIndex(index, op: "setElement(_:at:)")] = value
    }

    func linearIndex(_ index: [Int], op: String) throws -> Int {
        guard index.count == rank else {
            throw TensorError.invalidArgument(op: op, reason: "expected \(rank) indices for shape \(shape), got \(index.count)")
        }
        var i = offset
        for d in 0..<rank {
            var k = index[d]
            if k < 0 { k += shape[d] }
            guard k >= 0 && k < shape[d] else {
                throw TensorError.indexOutOfRange(op: op, index: index[d], axis: d, size: shape[d])
            }
            i += k * strides[d]
        }
        return i
    }

    /// Ensures the storage is not shared and holds no broadcast (stride-0) dimension, copying if needed.
    /// Keeps the current layout when it is already uniquely owned and free of aliasing.
    mutating func makeUnique() {
        if isKnownUniquelyReferenced(&storage) && !strides.contains(0) { return }
        var out = Tensor(uninitializedShape: shape)
        copyStrided(from: self, into: &out)
        self = out
    }

    /// Calls `body` with the elements in row-major order (copying first when not contiguous).
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Scalar>) throws -> R) rethrows -> R {
        let c = contiguous()
        return try withExtendedLifetime(c) {
            try body(UnsafeBufferPointer(start: c.storage.base + c.offset, count: c.count))
        }
    }

    /// Calls `body` with mutable access to the elements in row-major order. The tensor is made contiguous
    /// and uniquely owned first, so writes never reach another tensor.
    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (UnsafeMutableBufferPointer<Scalar>) throws -> R
    ) rethrows -> R {
        if !isContiguous || !isKnownUniquelyReferenced(&storage) {
            var out = Tensor(uninitializedShape: shape)
            copyStrided(from: self, into: &out)
            self = out
        }
        return try body(UnsafeMutableBufferPointer(start: storage.base + offset, count: count))
    }
}

extension Tensor {
    /// A view with the given layout over the same storage (internal: callers guarantee it stays in bounds).
    func view(shape: [Int], strides: [Int], offset: Int) -> Tensor {
        Tensor(storage: storage, shape: shape, strides: strides, offset: offset)
    }

    /// The base pointer of the first element (valid while `self` is alive).
    var basePointer: UnsafeMutablePointer<Scalar> { storage.base + offset }
}

extension Tensor: Equatable {
    /// Exact equality of shape and every element.
    public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
        lhs.shape == rhs.shape && lhs.scalars == rhs.scalars
    }
}

extension Tensor {
    /// Converts the elements to another scalar type (e.g. `Float` → `Double` for an oracle).
    @_specialize(where Scalar == Float, T == Double)
    @_specialize(where Scalar == Double, T == Float)
    public func converted<T: TensorScalar>(to: T.Type = T.self) -> Tensor<T> {
        let src = contiguous()
        let out = Tensor<T>(uninitializedShape: shape)
        let n = count
        let s = src.basePointer, d = out.storage.base
        for i in 0..<n { d[i] = T(s[i]) }
        return out
    }
}
