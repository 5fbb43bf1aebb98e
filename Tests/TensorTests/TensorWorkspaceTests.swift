import Testing
@testable import Tensor

/// `TensorWorkspace` and `Tensor.reusingBuffers`: which buffers are recycled, kept across scopes and freed, and that
/// tensors keep their values. A workspace is scoped to the calling thread, so tests running in parallel do not share
/// one. Buffer identity is read through the storage's base address.
@Suite struct TensorWorkspaceTests {
    /// Elements of a tensor whose buffer passes through a workspace (256 KiB and more).
    static let large = TensorBufferPool.minimumBytes / MemoryLayout<Float>.stride

    private func base(_ t: Tensor<Float>) -> UnsafeRawPointer {
        t.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress!) }
    }

    @Test func freedBufferIsHandedToTheNextAllocationOfItsSize() throws {
        let workspace = TensorWorkspace()
        try Tensor<Float>.reusingBuffers(in: workspace) {
            var first: UnsafeRawPointer?
            do {
                let t = try Tensor<Float>.zeros([Self.large + 5])
                first = base(t)
            }
            #expect(workspace.retainedBytes == TensorBufferPool.sizeClass((Self.large + 5) * 4))
            let again = try Tensor<Float>.zeros([Self.large + 7])  // same 4 KiB size class
            #expect(base(again) == first)
            #expect(again.scalars.allSatisfy { $0 == 0 })  // a recycled buffer is still initialised by its op
            #expect(workspace.retainedBytes == 0)
            let other = try Tensor<Float>.zeros([2 * Self.large])  // another size class: fresh
            #expect(base(other) != first)
        }
    }

    @Test func workspaceKeepsBuffersForTheNextScopeUntilRemoved() throws {
        let workspace = TensorWorkspace()
        var first: UnsafeRawPointer?
        try Tensor<Float>.reusingBuffers(in: workspace) {
            let t = try Tensor<Float>(shape: [Self.large], repeating: 3)
            first = base(t)
        }
        let kept = workspace.retainedBytes
        #expect(kept == Self.large * 4)
        try Tensor<Float>.reusingBuffers(in: workspace) {
            let t = try Tensor<Float>(shape: [Self.large], repeating: 4)
            #expect(base(t) == first)
            #expect(t.scalars.allSatisfy { $0 == 4 })
        }
        #expect(workspace.retainedBytes == kept)
        workspace.removeAll()
        #expect(workspace.retainedBytes == 0)
    }

    @Test func capacityLimitsWhatIsKept() throws {
        let workspace = TensorWorkspace(capacityBytes: Self.large * 4 + 4096)
        try Tensor<Float>.reusingBuffers(in: workspace) {
            _ = try (0..<3).map { _ in try Tensor<Float>.zeros([Self.large]) }
        }
        #expect(workspace.retainedBytes == Self.large * 4)
    }

    @Test func smallBuffersAndBuffersOutsideScopesAreNotKept() throws {
        let workspace = TensorWorkspace()
        try Tensor<Float>.reusingBuffers(in: workspace) {
            _ = try Tensor<Float>.zeros([Self.large / 2])
        }
        #expect(workspace.retainedBytes == 0)
        _ = try Tensor<Float>.zeros([Self.large])  // no scope: straight back to malloc
        #expect(workspace.retainedBytes == 0)
    }

    @Test func innerScopeUsesItsOwnWorkspaceThenTheOuterOneResumes() throws {
        let outer = TensorWorkspace(), inner = TensorWorkspace()
        try Tensor<Float>.reusingBuffers(in: outer) {
            try Tensor<Float>.reusingBuffers(in: inner) {
                _ = try Tensor<Float>.zeros([Self.large])
            }
            #expect(inner.retainedBytes == Self.large * 4)
            #expect(outer.retainedBytes == 0)
            _ = try Tensor<Float>.zeros([Self.large])
            #expect(outer.retainedBytes == Self.large * 4)
        }
    }

    /// A tensor made inside a scope and kept after it keeps its buffer and values; freeing it later (outside every
    /// scope) returns it to malloc, not to the workspace.
    @Test func tensorsOutlivingTheScopeKeepTheirValues() throws {
        let workspace = TensorWorkspace()
        let kept = try Tensor<Float>.reusingBuffers(in: workspace) { () throws -> Tensor<Float> in
            let scratch = try Tensor<Float>(shape: [Self.large], repeating: 1)
            _ = scratch
            let t = try Tensor<Float>(shape: [Self.large], repeating: 2)
            return try t + t
        }
        #expect(kept.scalars.allSatisfy { $0 == 4 })
        #expect(workspace.retainedBytes == 2 * Self.large * 4)  // `scratch` and `t`
        let keptBytes = workspace.retainedBytes
        _ = consume kept
        #expect(workspace.retainedBytes == keptBytes)
    }

    /// Threads sharing one workspace (copies of a TinT executor run from several threads) allocate and free through
    /// it concurrently; run under ThreadSanitizer in CI.
    @Test func concurrentScopesShareAWorkspace() async throws {
        let workspace = TensorWorkspace()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for value in 0..<4 {
                group.addTask {
                    try Tensor<Float>.reusingBuffers(in: workspace) {
                        for _ in 0..<50 {
                            let t = try Tensor<Float>(shape: [Self.large], repeating: Float(value))
                            #expect(t.scalars.allSatisfy { $0 == Float(value) })
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(workspace.retainedBytes >= Self.large * 4)
        #expect(workspace.retainedBytes <= 4 * Self.large * 4)
    }
}
