import Tensor

/// The element types of the safetensors format (the header's `dtype` strings).
///
/// Every listed type is accepted when a file is parsed and validated. The floating-point and integer
/// types convert to `Float` or `Double` tensors; the 8-bit float types are recognised but not converted.
public enum SafetensorsDType: String, CaseIterable, Sendable {
    case bool = "BOOL"
    case u8 = "U8"
    case i8 = "I8"
    case f8e5m2 = "F8_E5M2"
    case f8e4m3 = "F8_E4M3"
    case i16 = "I16"
    case u16 = "U16"
    case f16 = "F16"
    case bf16 = "BF16"
    case i32 = "I32"
    case u32 = "U32"
    case f32 = "F32"
    case f64 = "F64"
    case i64 = "I64"
    case u64 = "U64"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .bool, .u8, .i8, .f8e5m2, .f8e4m3: 1
        case .i16, .u16, .f16, .bf16: 2
        case .i32, .u32, .f32: 4
        case .f64, .i64, .u64: 8
        }
    }

    /// Whether ``SafetensorsFile/tensor(named:as:)`` can convert this type to a float tensor.
    public var isConvertible: Bool { self != .f8e5m2 && self != .f8e4m3 }

    /// The types the writer produces.
    public static let writable: [SafetensorsDType] = [.f64, .f32, .bf16, .f16]

    /// The safetensors library writes larger types first, then by name; this is its order among
    /// the writable types (F64, F32, BF16, F16).
    var writeOrder: Int {
        switch self {
        case .f64: 0
        case .f32: 1
        case .bf16: 2
        case .f16: 3
        default: 4
        }
    }
}

/// Where one tensor lives in a safetensors file and how to read it.
public struct SafetensorsTensorInfo: Equatable, Sendable {
    /// The tensor's name (its key in the header).
    public var name: String
    /// The element type.
    public var dtype: SafetensorsDType
    /// The shape (row-major).
    public var shape: [Int]
    /// The header's `data_offsets`: a byte range relative to the start of the data buffer.
    public var dataOffsets: Range<Int>

    /// The number of elements.
    public var count: Int { shape.reduce(1, *) }
}

/// Converts `count` little-endian elements of `dtype` at `src` into `dst`.
@_specialize(where S == Float)
@_specialize(where S == Double)
func convertElements<S: TensorScalar>(from src: UnsafeRawPointer, dtype: SafetensorsDType,
                                      into dst: UnsafeMutablePointer<S>, count: Int) {
    @inline(__always) func u16(_ i: Int) -> UInt16 {
        UInt16(littleEndian: src.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self))
    }
    @inline(__always) func u32(_ i: Int) -> UInt32 {
        UInt32(littleEndian: src.loadUnaligned(fromByteOffset: i &* 4, as: UInt32.self))
    }
    @inline(__always) func u64(_ i: Int) -> UInt64 {
        UInt64(littleEndian: src.loadUnaligned(fromByteOffset: i &* 8, as: UInt64.self))
    }
    switch dtype {
    case .f32:
        #if _endian(little)
        if S.self == Float.self {
            UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: count &* 4)
            return
        }
        #endif
        for i in 0..<count { dst[i] = S(Float(bitPattern: u32(i))) }
    case .f64:
        #if _endian(little)
        if S.self == Double.self {
            UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: count &* 8)
            return
        }
        #endif
        for i in 0..<count { dst[i] = S(Double(bitPattern: u64(i))) }
    case .f16:
        for i in 0..<count { dst[i] = S(HalfPrecision.float(fromHalf: u16(i))) }
    case .bf16:
        for i in 0..<count { dst[i] = S(HalfPrecision.float(fromBFloat16: u16(i))) }
    case .bool, .u8:
        for i in 0..<count { dst[i] = S(src.load(fromByteOffset: i, as: UInt8.self)) }
    case .i8:
        for i in 0..<count { dst[i] = S(src.load(fromByteOffset: i, as: Int8.self)) }
    case .i16:
        for i in 0..<count { dst[i] = S(Int16(bitPattern: u16(i))) }
    case .u16:
        for i in 0..<count { dst[i] = S(u16(i)) }
    case .i32:
        for i in 0..<count { dst[i] = S(Int32(bitPattern: u32(i))) }
    case .u32:
        for i in 0..<count { dst[i] = S(u32(i)) }
    case .i64:
        for i in 0..<count { dst[i] = S(Int64(bitPattern: u64(i))) }
    case .u64:
        for i in 0..<count { dst[i] = S(u64(i)) }
    case .f8e5m2, .f8e4m3:
        preconditionFailure("convertElements: \(dtype.rawValue) is not convertible (callers check isConvertible)")
    }
}

/// Encodes `count` elements of `src` as little-endian `dtype` at `dst` (a writable float type).
@_specialize(where S == Float)
@_specialize(where S == Double)
func encodeElements<S: TensorScalar>(from src: UnsafePointer<S>, count: Int, as dtype: SafetensorsDType,
                                     into dst: UnsafeMutableRawPointer) {
    switch dtype {
    case .f32:
        for i in 0..<count {
            dst.storeBytes(of: Float(src[i]).bitPattern.littleEndian, toByteOffset: i &* 4, as: UInt32.self)
        }
    case .f64:
        for i in 0..<count {
            dst.storeBytes(of: Double(src[i]).bitPattern.littleEndian, toByteOffset: i &* 8, as: UInt64.self)
        }
    case .f16:
        for i in 0..<count {
            dst.storeBytes(of: HalfPrecision.half(from: Float(src[i])).littleEndian, toByteOffset: i &* 2,
                           as: UInt16.self)
        }
    case .bf16:
        for i in 0..<count {
            dst.storeBytes(of: HalfPrecision.bfloat16(from: Float(src[i])).littleEndian, toByteOffset: i &* 2,
                           as: UInt16.self)
        }
    default:
        preconditionFailure("encodeElements: \(dtype.rawValue) is not writable (callers check)")
    }
}
