#pragma once
// Everything a model author needs: tensors, factories, autograd and every op.
#include "autograd/backward.h"
#include "autograd/grad_mode.h"
#include "engine/factory.h"
#include "engine/tensor.h"
#include "ops/elementwise.h"
#include "ops/index_ops.h"
#include "ops/linalg.h"
#include "ops/loss.h"
#include "ops/nn_ops.h"
#include "ops/reduce.h"
#include "ops/shape_ops.h"
#include "ops/views.h"
