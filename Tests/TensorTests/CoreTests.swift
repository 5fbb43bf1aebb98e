import Testing
@testable import Tensor

@Suite struct CoreTests {
    @Test func placeholder() throws {
        let t = try Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        #expect(t.shape == [2, 3])
    }
}
