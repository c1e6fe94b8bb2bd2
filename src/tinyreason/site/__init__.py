"""`tinyreason view`: the study as a static site a person can browse, from run directories alone (no model).

    tinyreason view results/runs/* --out site                # then open site/index.html
    tinyreason view results/runs/* --out site --serve                      # and serve it on 127.0.0.1

See tinyreason.site.build.
"""

from tinyreason.site.build import build_site

__all__ = ["build_site"]
