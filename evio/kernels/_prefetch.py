"""``prefetch(array, index)``: a software prefetch hint for ``array[index]`` inside Numba kernels.

Lowers to LLVM's ``llvm.prefetch`` (read, keep in all cache levels). It never faults, so the
index may lie past the end of the array; the hint is dropped by CPUs without one.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def prefetch(typingctx, array, index):
    sig = types.void(array, index)

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        ary = context.make_array(array_type)(context, builder, args[0])
        byte_ptr = ir.IntType(8).as_pointer()
        base = builder.bitcast(ary.data, byte_ptr)
        offset = builder.mul(args[1], context.get_constant(types.intp, array_type.dtype.bitwidth // 8))
        address = builder.gep(base, [offset])
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        builder.call(fn, [address, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen
