import Tensor

/// An ordered collection of named tensors: a model's parameters under their checkpoint names
/// (`model.decoder.layers.0.fc1.weight`), or the gradients of some of them.
public struct ParameterSet<Scalar: TensorScalar>: Sendable, Sequence {
    /// The names in insertion order.
    public private(set) var names: [String] = []
    private var tensors: [Tensor<Scalar>] = []
    private var index: [String: Int] = [:]

    /// An empty set.
    public init() {}

    /// The pairs in order; a repeated name throws.
    public init(_ pairs: [(String, Tensor<Scalar>)]) throws {
        for (name, t) in pairs { try insert(name, t) }
    }

    /// The number of parameters.
    public var count: Int { names.count }
    /// The total number of scalars.
    public var scalarCount: Int { tensors.reduce(0) { $0 + $1.count } }

    /// Whether a parameter has this name.
    public func contains(_ name: String) -> Bool { index[name] != nil }

    /// The tensor named `name`, or `nil`.
    public subscript(name: String) -> Tensor<Scalar>? { index[name].map { tensors[$0] } }

    /// The tensor named `name`; throws ``AutodiffError/unknownParameter(_:)`` when there is none.
    public func tensor(_ name: String) throws -> Tensor<Scalar> {
        guard let i = index[name] else { throw AutodiffError.unknownParameter(name) }
        return tensors[i]
    }

    /// Appends a new parameter; a name already present throws.
    public mutating func insert(_ name: String, _ tensor: Tensor<Scalar>) throws {
        guard index[name] == nil else { throw AutodiffError.duplicateParameter(name) }
        index[name] = tensors.count
        names.append(name)
        tensors.append(tensor)
    }

    /// Replaces the tensor of an existing parameter; throws for an unknown name or a different shape.
    public mutating func set(_ name: String, _ tensor: Tensor<Scalar>) throws {
        guard let i = index[name] else { throw AutodiffError.unknownParameter(name) }
        guard tensors[i].shape == tensor.shape else {
            throw AutodiffError.parameterShapeMismatch(name: name, expected: tensors[i].shape, got: tensor.shape)
        }
        tensors[i] = tensor
    }

    /// Mutates the tensor of an existing parameter in place (its shape must not change).
    public mutating func update<R>(_ name: String, _ body: (inout Tensor<Scalar>) throws -> R) throws -> R {
        guard let i = index[name] else { throw AutodiffError.unknownParameter(name) }
        let shape = tensors[i].shape
        let r = try body(&tensors[i])
        guard tensors[i].shape == shape else {
            throw AutodiffError.parameterShapeMismatch(name: name, expected: shape, got: tensors[i].shape)
        }
        return r
    }

    /// The parameters whose names satisfy `isIncluded`, in order.
    public func filter(_ isIncluded: (String) throws -> Bool) rethrows -> ParameterSet {
        var out = ParameterSet()
        for (n, t) in zip(names, tensors) where try isIncluded(n) { out.names.append(n); out.index[n] = out.tensors.count; out.tensors.append(t) }
        return out
    }

    /// (name, tensor) pairs in order.
    public func makeIterator() -> some IteratorProtocol<(name: String, tensor: Tensor<Scalar>)> {
        zip(names, tensors).lazy.map { (name: $0, tensor: $1) }.makeIterator()
    }

    /// Every parameter as a constant variable (no gradient is tracked): the form a model takes for inference.
    public var constants: VariableSet<Scalar> {
        VariableSet(names: names, variables: tensors.map { Variable($0) })
    }

    /// Every parameter as a variable; those in `trainable` (all when `nil`) track gradients, the rest are
    /// constants. Throws for a name in `trainable` that is not a parameter.
    public func variables(trainable: Set<String>? = nil) throws -> VariableSet<Scalar> {
        if let trainable {
            for name in trainable.sorted() where index[name] == nil { throw AutodiffError.unknownParameter(name) }
        }
        return VariableSet(names: names, variables: zip(names, tensors).map { n, t in
            Variable(t, requiresGradient: trainable?.contains(n) ?? true)
        })
    }
}

/// The parameters of a ``ParameterSet`` as variables, looked up by name inside a differentiated closure.
public struct VariableSet<Scalar: TensorScalar>: Sendable {
    /// The names in order.
    public let names: [String]
    let variables: [Variable<Scalar>]
    private let index: [String: Int]

    init(names: [String], variables: [Variable<Scalar>]) {
        self.names = names
        self.variables = variables
        self.index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
    }

    /// The variable named `name`; throws ``AutodiffError/unknownParameter(_:)`` when there is none.
    public subscript(name: String) -> Variable<Scalar> {
        get throws {
            guard let i = index[name] else { throw AutodiffError.unknownParameter(name) }
            return variables[i]
        }
    }

    /// Whether a parameter has this name.
    public func contains(_ name: String) -> Bool { index[name] != nil }
}
