// The Llama family (`LlamaForCausalLM`): see LlamaConfig.swift and the model in this file (in progress).
import LanguageModel
