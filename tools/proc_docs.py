"Run nbdev's own documentation pre-processing (what `nbdev_docs` feeds to Quarto) without requiring Quarto."
import nbdev.doclinks
from nbdev.config import get_config
from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar
from nbdev.serve import proc_nbs

if __name__ == '__main__':
    cfg = get_config()
    refresh_quarto_yml()
    nbdev.doclinks._build_modidx()
    nbdev_sidebar.__wrapped__(path=cfg.nbs_path)
    print(proc_nbs(cfg.nbs_path, n_workers=0))
