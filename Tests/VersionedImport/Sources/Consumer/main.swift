import Tensor

// Exercises the library through its public API from a versioned checkout built without target flags.
let a = try Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
let t = try a.transposed().contiguous()
precondition(t.scalars == [1, 4, 2, 5, 3, 6], "transpose through the public API")
print("versioned import OK:", t.shape)
