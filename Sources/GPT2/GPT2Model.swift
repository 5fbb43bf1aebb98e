// The GPT-2 family (`GPT2LMHeadModel`): see GPT2Config.swift and the model in this file (in progress).
import LanguageModel
