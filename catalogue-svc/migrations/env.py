from catalogue.models import Base
from catalogue.settings import Settings

from services import migrations

migrations.run(Base.metadata, Settings().database_url)
