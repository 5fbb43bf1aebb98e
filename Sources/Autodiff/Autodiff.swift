// Reverse-mode automatic differentiation over Tensor (issue: Autodiff). Not yet implemented.
