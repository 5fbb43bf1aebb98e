import Dispatch
import Foundation
import Testing
import Tensor
@testable import Autodiff

@Suite struct TapeTests {
    @Test func gradientOfASimpleExpression() throws {
        // f(x, y) = Σ x·y + x² → ∂f/∂x = y + 2x, ∂f/∂y = x.
        let x = rand([2, 3], 1), y = rand([2, 3], 2)
        let (v, (gx, gy)) = try valueAndGradient(at: x, y) { x, y in try (x * y + x.squared()).sum() }
        let xs = x.scalars, ys = y.scalars
        #expect(abs(try v.item() - zip(xs, ys).map { $0 * $1 + $0 * $0 }.reduce(0, +)) < 1e-14)
        #expect(gx.scalars == zip(xs, ys).map { $1 + 2 * $0 })
        #expect(gy.scalars == xs)
    }

    @Test func diamondGraphAccumulatesOnce() throws {
        // z = a·b with a = x + 1 and b = 2x: each path reaches x once; dz/dx = b + 2a = 4x + 2.
        let x = rand([4], 3)
        let g = try gradient(at: x) { x in
            let a = x + 1, b = 2 * x
            return try (a * b).sum()
        }
        #expect(zip(g.scalars, x.scalars).allSatisfy { abs($0 - (4 * $1 + 2)) < 1e-15 })
    }

    @Test func deepChainDoesNotRecurse() throws {
        // 20 000 nodes deep: backward is iterative.
        let g = try gradient(at: Tensor<Double>(scalar: 1)) { x in
            var y = x
            for _ in 0..<20_000 { y = y * 1.0 }
            return y
        }
        #expect(try g.item() == 1)
    }

    @Test func noGradRecordsNothing() throws {
        let x = Variable(rand([3], 4), requiresGradient: true)
        let y = try noGrad { try (x * x).exp().sum() }
        #expect(!y.requiresGradient && y.node == nil)
        #expect(!noGrad { isGradientRecordingEnabled })
        #expect(isGradientRecordingEnabled)
        // Nested scopes, and recording resumes afterwards.
        let z = try noGrad { try noGrad { x * 2 }.sum() }
        #expect(!z.requiresGradient)
        #expect(try (x * 2).sum().requiresGradient)
        // Constants record nothing either.
        #expect(!(try (Variable(rand([3], 5)) * 2).sum().requiresGradient))
    }

    @Test func noGradIsPerThread() throws {
        // One thread inside noGrad must not switch recording off for another.
        let seen = UnsafeMutableBufferPointer<Bool>.allocate(capacity: 2)
        defer { seen.deallocate() }
        let box = UncheckedSendable(seen)
        let inside = DispatchSemaphore(value: 0), checked = DispatchSemaphore(value: 0)
        let t = Thread {
            noGrad {
                box.value[0] = isGradientRecordingEnabled
                inside.signal()
                checked.wait()
            }
        }
        t.start()
        inside.wait()
        box.value[1] = isGradientRecordingEnabled
        checked.signal()
        #expect(box.value[0] == false && box.value[1] == true)
    }

    @Test func backwardReleasesTheGraph() throws {
        let x = Variable(rand([3], 6), requiresGradient: true)
        let h = x.exp()
        let y = try (h * 3).sum()
        #expect(!h.node!.edges.isEmpty)
        _ = try y.gradient(for: x)
        #expect(h.node!.edges.isEmpty && y.node!.edges.isEmpty)  // pullbacks (and what they captured) are gone
        #expect(throws: AutodiffError.graphReleased) { try y.gradient(for: x) }
        // retainGraph keeps it for a second pass, which gives the same gradient.
        let y2 = try (x.exp() * 3).sum()
        let g1 = try y2.gradients(for: [x], retainGraph: true)[0]
        let g2 = try y2.gradient(for: x)
        #expect(g1 == g2)
    }

    @Test func backwardSkipsBranchesNoRequestedInputNeeds() throws {
        final class Counter { var calls = 0 }
        let counter = Counter()
        func graph() -> (x: Variable<Double>, w: Variable<Double>, w2: Variable<Double>, y: Variable<Double>) {
            let x = Variable(rand([3], 30), requiresGradient: true), w = Variable(rand([3], 31), requiresGradient: true)
            let w2 = Variable.record(w.value * 2, w) { g in counter.calls += 1; return g * 2 }
            return (x, w, w2, try! (x * w2).sum())
        }
        // Only x requested: the pullback into w (a tracked input nobody asked for) never runs.
        let a = graph()
        let gx = try a.y.gradient(for: a.x)
        #expect(counter.calls == 0)
        #expect(gx == a.w2.value)
        #expect(a.w2.node!.edges.isEmpty)  // a pruned branch is released all the same
        // Asking for both runs it once, with the same gradient for x.
        let b = graph()
        let g = try b.y.gradients(for: [b.x, b.w])
        #expect(counter.calls == 1)
        #expect(g[0] == gx && g[1] == b.x.value * 2)
    }

    @Test func unusedInputGetsZeros() throws {
        let g = try gradient(at: [rand([2], 7), rand([3], 8)]) { v in try v[0].sum() }
        #expect(g[1].scalars == [0, 0, 0])
        let c = try gradient(at: rand([2], 9)) { _ in Variable(Tensor(scalar: 1.0)) }  // constant output
        #expect(c.scalars == [0, 0])
    }

    @Test func errors() throws {
        let x = Variable(rand([2, 3], 10), requiresGradient: true)
        #expect(throws: AutodiffError.nonScalarOutput(shape: [2, 3])) { try (x * 2).gradient(for: x) }
        #expect(throws: AutodiffError.seedShapeMismatch(seed: [3], value: [2, 3])) {
            try (x * 2).gradient(for: x, seed: Tensor([1, 2, 3]))
        }
        #expect(throws: AutodiffError.outputNotTracked) { try Variable(rand([1], 11)).gradient(for: x) }
        #expect(throws: AutodiffError.inputNotTracked(index: 1)) {
            try x.sum().gradients(for: [x, Variable(rand([1], 12))])
        }
        #expect(throws: AutodiffError.nonScalarOutput(shape: [2, 3])) { try gradient(at: rand([2, 3], 13)) { $0 * 2 } }
        #expect(throws: AutodiffError.outputNotTracked) { try noGrad { try gradient(at: rand([2], 14)) { try $0.sum() } } }
        // Error messages name the problem.
        #expect(AutodiffError.nonScalarOutput(shape: [2, 3]).description.contains("seed"))
    }

    @Test func seededGradientOfANonScalar() throws {
        let x = rand([2, 3], 15), seed = rand([2, 3], 16)
        let g = try gradient(at: x, seed: seed) { $0 * 3 }
        #expect(g.scalars == seed.scalars.map { $0 * 3 })
    }

    @Test func gradientCheckerCatchesAWrongPullback() throws {
        // A deliberately wrong derivative (2x instead of 3x² for x³) must fail the check, with its location.
        let x = rand([3, 2], 17, 0.5, 1.5)
        let report = try gradientCheck(at: x) { v in
            Variable.record(v.value.pow(3), v) { g in try g * v.value * 2 }
        }
        #expect(report.worstRelativeError > 0.1)
        #expect(report.inputIndex == 0 && report.elementIndex.count == 2)
        let right = try gradientCheck(at: x) { v in
            Variable.record(v.value.pow(3), v) { g in try g * v.value.squared() * 3 }
        }
        #expect(right.worstRelativeError <= gradTolerance)
        #expect(right.checkedCount == 6)
    }
}
