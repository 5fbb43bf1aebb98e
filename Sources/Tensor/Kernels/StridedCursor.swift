/// A row-major walk over the element offsets of a strided layout, one step at a time. Used where a loop
/// needs the offset of element `k` of a layout while it hands out chunks (`seek`) and then steps (`next`).
struct StridedCursor {
    private let shape: [Int]
    private let strides: [Int]
    private var index: [Int]
    /// The offset of the current element.
    private(set) var offset = 0

    init(shape: [Int], strides: [Int], start: Int = 0) {
        self.shape = shape
        self.strides = strides
        index = [Int](repeating: 0, count: shape.count)
        if start != 0 { seek(start) }
    }

    /// Moves to the element with row-major position `linear`.
    mutating func seek(_ linear: Int) {
        var rest = linear
        offset = 0
        for d in stride(from: shape.count - 1, through: 0, by: -1) {
            let i = rest % shape[d]
            rest /= shape[d]
            index[d] = i
            offset += i * strides[d]
        }
    }

    /// Moves back to the first element.
    mutating func reset() {
        for d in index.indices { index[d] = 0 }
        offset = 0
    }

    /// Moves to the next element in row-major order (past the last one it wraps to the first).
    @inline(__always)
    mutating func next() {
        var d = shape.count - 1
        while d >= 0 {
            index[d] &+= 1
            offset &+= strides[d]
            if index[d] < shape[d] { return }
            offset &-= strides[d] &* shape[d]
            index[d] = 0
            d -= 1
        }
    }
}
