from setuptools import setup
from setuptools.command.build_py import build_py
from configparser import ConfigParser
from pathlib import Path
import setuptools, shlex, shutil

assert setuptools.__version__ >= '36.2'
config = ConfigParser(delimiters=['='])
config.read('settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

cfg_keys = 'version description keywords author author_email'.split()
expected = cfg_keys + "lib_name user branch license status min_python audience language".split()
for o in expected: assert o in cfg, "missing expected setting: {}".format(o)
setup_cfg = {o:cfg[o] for o in cfg_keys}

licenses = {'mit': ('MIT License', 'OSI Approved :: MIT License')}
statuses = [ '1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable', '6 - Mature', '7 - Inactive' ]
py_versions = '3.10 3.11 3.12 3.13'.split()

requirements = shlex.split(cfg.get('requirements', ''))
if cfg.get('pip_requirements'): requirements += shlex.split(cfg.get('pip_requirements', ''))
min_python = cfg['min_python']
lic = licenses.get(cfg['license'].lower(), (cfg['license'], None))
dev_requirements = shlex.split(cfg.get('dev_requirements', ''))
# every `<name>_requirements` key of settings.ini is the extra `[<name>]`
extras = {k[:-len('_requirements')]: shlex.split(v) for k, v in cfg.items() if k.endswith('_requirements') and k != 'dev_requirements'}
extras['dev'] = dev_requirements

# The top-level data/ folder (workload configs, examples, evaluation set, example traces) is the source; a built
# wheel carries a copy as the package's data/ folder, which `semantic_kv.models.data_dir()` finds when installed.
# Editable installs read data/ in place. The real Mooncake trace (data/traces/mooncake/) is never shipped.
DATA_SKIP = ('traces/mooncake',)
class build_py_with_data(build_py):
    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False): return
        src, dst = Path('data'), Path(self.build_lib)/cfg['lib_path']/'data'
        if not src.is_dir(): return   # building from an sdist that already carries semantic_kv/data
        for f in sorted(src.rglob('*')):
            rel = f.relative_to(src).as_posix()
            if not f.is_file() or any(rel.startswith(s) for s in DATA_SKIP) or '__pycache__' in rel: continue
            (dst/rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dst/rel)

setuptools.setup(
    cmdclass = {'build_py': build_py_with_data},
    name = cfg['lib_name'],
    license = lic[0],
    classifiers = [
        'Development Status :: ' + statuses[int(cfg['status'])],
        'Intended Audience :: ' + cfg['audience'].title(),
        'Natural Language :: ' + cfg['language'].title(),
    ] + ['Programming Language :: Python :: '+o for o in py_versions[py_versions.index(min_python):]],
    url = cfg['git_url'],
    packages = setuptools.find_packages(include=[cfg['lib_name'], cfg['lib_name']+'.*']),
    include_package_data = True,
    install_requires = requirements,
    extras_require = extras,
    dependency_links = cfg.get('dep_links','').split(),
    python_requires  = '>=' + cfg['min_python'],
    long_description = open('README.md', encoding='utf-8').read(),
    long_description_content_type = 'text/markdown',
    zip_safe = False,
    entry_points = {
        'console_scripts': cfg.get('console_scripts','').split(),
        'nbdev': [f'{cfg.get("lib_path")}={cfg.get("lib_path")}._modidx:d']
    },
    **setup_cfg)
