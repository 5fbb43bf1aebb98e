import Testing
import Tensor
@testable import Autodiff

@Suite struct ParameterTests {
    func params() throws -> ParameterSet<Double> {
        try ParameterSet([("a", rand([2, 3], 1)), ("b", rand([3], 2)), ("c", rand([2], 3))])
    }

    @Test func orderedCollection() throws {
        var p = try params()
        #expect(p.names == ["a", "b", "c"] && p.count == 3 && p.scalarCount == 11)
        #expect(p["b"] == rand([3], 2) && p["zz"] == nil)
        #expect(throws: AutodiffError.duplicateParameter("a")) { try p.insert("a", rand([1], 4)) }
        #expect(throws: AutodiffError.unknownParameter("zz")) { try p.tensor("zz") }
        #expect(throws: AutodiffError.parameterShapeMismatch(name: "b", expected: [3], got: [2])) { try p.set("b", rand([2], 5)) }
        try p.set("b", rand([3], 6))
        #expect(p["b"] == rand([3], 6))
        #expect(p.filter { $0 != "b" }.names == ["a", "c"])
        #expect(p.map(\.name) == ["a", "b", "c"])
    }

    @Test func gradientOfTrainableSubset() throws {
        let p = try params()
        // loss = Σ a·b (broadcast) + Σ c²
        let f: (VariableSet<Double>) throws -> Variable<Double> = { v in
            try (v["a"] * v["b"]).sum() + v["c"].squared().sum()
        }
        let (loss, g) = try valueAndGradient(of: p, trainable: ["b", "c"], f)
        let a = try p.tensor("a"), b = try p.tensor("b"), c = try p.tensor("c")
        let expectedLoss = (0..<6).map { a.scalars[$0] * b.scalars[$0 % 3] }.reduce(0, +) + c.scalars.map { $0 * $0 }.reduce(0, +)
        #expect(abs(loss - expectedLoss) < 1e-14)
        #expect(g.names == ["b", "c"])  // only the trainable ones, in parameter order
        #expect(try g.tensor("b").scalars == (0..<3).map { a.scalars[$0] + a.scalars[$0 + 3] })
        #expect(try g.tensor("c").scalars == c.scalars.map { 2 * $0 })
        let (_, all) = try valueAndGradient(of: p, f)
        #expect(all.names == ["a", "b", "c"])
        let (_, pred) = try valueAndGradient(of: p, trainableWhere: { $0 == "a" }, f)
        #expect(pred.names == ["a"])
    }

    @Test func unusedTrainableGetsZeros() throws {
        let (_, g) = try valueAndGradient(of: try params(), trainable: ["a", "c"]) { v in try v["a"].sum() }
        #expect(try g.tensor("c").scalars == [0, 0])
    }

    @Test func badNamesAndLossesThrow() throws {
        let p = try params()
        #expect(throws: AutodiffError.unknownParameter("nope")) { try valueAndGradient(of: p, trainable: ["a", "nope"]) { v in try v["a"].sum() } }
        #expect(throws: AutodiffError.unknownParameter("x")) { try valueAndGradient(of: p) { v in try v["x"].sum() } }
        #expect(throws: AutodiffError.nonScalarOutput(shape: [2, 3])) { try valueAndGradient(of: p) { v in try v["a"] } }
        #expect(AutodiffError.unknownParameter("x").description == "no parameter named 'x'")
    }

    @Test func constantsForInference() throws {
        let v = try params().constants
        #expect(try !v["a"].requiresGradient)
        #expect(try !(v["a"] * v["b"]).requiresGradient)
    }
}
