from mdlm_eval.cli import main

main()
